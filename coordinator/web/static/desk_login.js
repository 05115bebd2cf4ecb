// Shows the logout time in the agent's local time (HH:MM:SS).
(function () {
  'use strict';
  var t = document.getElementById('out-time');
  if (!t || !t.dataset.ms) return;
  var d = new Date(Number(t.dataset.ms));
  function p(n) { return (n < 10 ? '0' : '') + n; }
  t.textContent = p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  t.dateTime = d.toISOString();
})();
