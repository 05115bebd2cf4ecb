// The reference Agent Desk's page logic.
//
// Reports to the coordinator (POST /desk/report, CSRF token in a header):
//   - keyboard and mouse input in the page: at most once a second (the
//     last input of a burst is sent when the second is up), and at once
//     while the warning shows, since that input dismisses it;
//   - Page Visibility changes, and the state at load.
// Learns over one EventSource (/desk/events): hello, warn, withdraw,
// logged_out, ended, state, policy, conversations.
//
// The warning counts down to the coordinator's deadline using the offset
// between the server's clock and this one, recomputed at every draw, so a
// throttled or sleeping tab shows the true time left when it wakes.
(function () {
  'use strict';
  var root = document.getElementById('desk');
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var main = document.getElementById('desk-main');
  var backdrop = document.getElementById('warning-backdrop');
  var modal = document.getElementById('warning');
  var seconds = document.getElementById('warning-seconds');
  var stay = document.getElementById('warning-stay');
  var announce = document.getElementById('announce');
  var out = document.getElementById('logged-out');
  var list = document.getElementById('conversations');
  var none = document.getElementById('no-conversations');
  var errorBox = document.getElementById('desk-error');
  var statusLine = document.getElementById('desk-status');
  var policyLine = document.getElementById('policy');

  var offset = Number(root.dataset.nowMs) - Date.now();
  var deadline = 0;          // server ms; 0 while no warning shows
  var loggedOut = false;
  var lastSent = 0;          // local ms of the last input report
  var trailing = null;       // timer for the last input of a burst
  var inFlight = false;      // an input report is on its way
  var lastFocus = null;
  var shownConversations = list.children.length; // how many the page shows
  var emptiedAt = 0;                               // when it last went to none

  function serverNow() { return Date.now() + offset; }
  function setOffset(nowMs) { if (nowMs) offset = nowMs - Date.now(); }

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', keepalive: true,
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    });
  }

  function checkReport(resp) {
    if (resp.status === 401 || resp.status === 409) location.assign('/desk/');
  }

  // --- input reports ---------------------------------------------------
  function sendInput() {
    if (trailing) { clearTimeout(trailing); trailing = null; }
    lastSent = Date.now();
    inFlight = true;
    post('/desk/report', { input: true }).then(checkReport, function () {}).then(function () { inFlight = false; });
  }

  function onInput() {
    if (loggedOut) return;
    if (deadline) {
      if (!inFlight) sendInput();   // at once: it dismisses the warning
      return;
    }
    var wait = lastSent + 1000 - Date.now();
    if (wait <= 0) sendInput();
    else if (!trailing) trailing = setTimeout(sendInput, wait);
  }

  ['keydown', 'mousedown', 'mousemove', 'wheel', 'touchstart', 'pointerdown'].forEach(function (t) {
    document.addEventListener(t, onInput, { capture: true, passive: true });
  });

  function reportVisibility() {
    if (loggedOut) return;
    post('/desk/report', { visible: document.visibilityState === 'visible' }).then(checkReport, function () {});
  }
  // Hidden is reported from a timer: a tab being closed or navigated away
  // also turns hidden, but runs no timer after that, so closing the Agent
  // Desk never pauses the clock for good (the agent did not just switch
  // tabs; they left).
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') reportVisibility();
    else setTimeout(reportVisibility, 0);
  });

  // --- the warning -----------------------------------------------------
  function secondsLeft() { return Math.max(0, Math.ceil((deadline - serverNow()) / 1000)); }

  function drawWarning() {
    if (!deadline) return;
    var s = String(secondsLeft());
    if (seconds.textContent !== s) seconds.textContent = s;
  }

  function showWarning(dl) {
    deadline = dl;
    drawWarning();
    if (!backdrop.hidden) return;
    lastFocus = document.activeElement;
    backdrop.hidden = false;
    main.inert = true;
    stay.focus();
    // Announce once (the countdown itself is not a live region).
    announce.textContent = '';
    setTimeout(function () {
      announce.textContent = 'You will be logged out in ' + secondsLeft() + ' seconds due to inactivity. Press any key to stay logged in.';
    }, 50);
  }

  function hideWarning() {
    deadline = 0;
    if (backdrop.hidden) return;
    backdrop.hidden = true;
    main.inert = false;
    announce.textContent = '';
    if (lastFocus && document.contains(lastFocus) && lastFocus !== document.body) lastFocus.focus();
  }

  stay.addEventListener('click', onInput);
  // Keep the keyboard inside the dialog while it shows.
  modal.addEventListener('keydown', function (e) {
    if (e.key === 'Tab') { e.preventDefault(); stay.focus(); }
  });

  setInterval(drawWarning, 200);

  // --- logged out ------------------------------------------------------
  function clock(ms) {
    var d = new Date(ms);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function showLoggedOut(atMs) {
    if (loggedOut) return;
    loggedOut = true;
    es.close();
    hideWarning();
    var t = document.getElementById('out-time');
    t.textContent = clock(atMs);
    t.dateTime = new Date(atMs).toISOString();
    // The reroute may empty the list a moment before the logout arrives.
    var had = shownConversations > 0 || (emptiedAt && Date.now() - emptiedAt < 5000);
    document.getElementById('out-convs').textContent = had
      ? 'Your open conversations were passed to colleagues.'
      : 'You had no open conversations.';
    main.hidden = true;
    out.hidden = false;
    document.title = 'Agent Desk — logged out';
    statusLine.textContent = '';
    out.focus();
  }

  // --- conversations ---------------------------------------------------
  var channelName = { chat: 'Chat', voice: 'Voice call', video: 'Video call' };

  function button(label, aria, cls, url) {
    var f = document.createElement('form');
    f.method = 'post';
    f.action = url;
    f.className = 'inline';
    var h = document.createElement('input');
    h.type = 'hidden'; h.name = 'csrf'; h.value = csrf;
    var b = document.createElement('button');
    b.type = 'submit';
    b.textContent = label;
    b.setAttribute('aria-label', aria);
    if (cls) b.className = cls;
    f.appendChild(h);
    f.appendChild(b);
    return f;
  }

  function renderConversations(cs) {
    var focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('li')
      ? document.activeElement.closest('li').dataset.id : null;
    list.textContent = '';
    cs.forEach(function (c) {
      var li = document.createElement('li');
      li.dataset.id = c.id;
      li.dataset.state = c.state;
      var ch = document.createElement('span');
      ch.className = 'channel channel-' + c.channel;
      ch.textContent = channelName[c.channel] || c.channel;
      var cu = document.createElement('span');
      cu.className = 'customer';
      cu.textContent = c.customer;
      var st = document.createElement('span');
      st.className = 'state';
      st.textContent = c.state === 'active' ? 'in progress' : 'waiting for you';
      li.appendChild(ch); li.appendChild(cu); li.appendChild(st);
      if (c.state === 'assigned') {
        li.appendChild(button('Accept', 'Accept ' + c.channel + ' from ' + c.customer, '', '/desk/conversations/' + encodeURIComponent(c.id) + '/accept'));
      }
      li.appendChild(button('End', 'End ' + c.channel + ' with ' + c.customer, 'danger', '/desk/conversations/' + encodeURIComponent(c.id) + '/end'));
      list.appendChild(li);
    });
    none.hidden = cs.length > 0;
    if (shownConversations > 0 && cs.length === 0) emptiedAt = Date.now();
    shownConversations = cs.length;
    if (focusedId) {
      var li = list.querySelector('li[data-id="' + CSS.escape(focusedId) + '"] button');
      if (li) li.focus();
    }
  }

  list.addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target;
    errorBox.hidden = true;
    fetch(f.action, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf }
    }).then(function (resp) {
      return resp.json().then(function (body) {
        if (resp.ok) { renderConversations(body.conversations); return; }
        if (resp.status === 401) { location.assign('/desk/'); return; }
        errorBox.textContent = body.message || 'That did not work.';
        errorBox.hidden = false;
      });
    }, function () {
      errorBox.textContent = 'The coordinator cannot be reached; try again.';
      errorBox.hidden = false;
    });
  });

  // --- status and policy -----------------------------------------------
  var reasonText = { minimized: 'minimized', not_in_front: 'not in front', on_call: 'on a call' };
  function setStatus(status, reasons) {
    var t = '';
    if (status === 'paused') {
      t = 'Inactivity clock paused' + (reasons && reasons.length ? ' (' + reasons.map(function (r) { return reasonText[r] || r; }).join(', ') + ')' : '');
    } else if (status === 'disabled') {
      t = 'Automatic logout is off';
    }
    statusLine.textContent = t;
  }
  function setPolicy(p) { if (p && p.text) policyLine.textContent = p.text; }

  // --- events ----------------------------------------------------------
  var es = new EventSource('/desk/events');
  function on(name, fn) {
    es.addEventListener(name, function (ev) { fn(JSON.parse(ev.data)); });
  }
  on('hello', function (d) {
    setOffset(d.now_ms);
    setPolicy(d.policy);
    renderConversations(d.conversations || []);
    setStatus(d.status, d.reasons);
    if (d.status === 'warned' && d.deadline_ms) showWarning(d.deadline_ms); else hideWarning();
  });
  on('warn', function (d) { setOffset(d.now_ms); showWarning(d.deadline_ms); });
  on('withdraw', function (d) { setOffset(d.now_ms); hideWarning(); });
  on('logged_out', function (d) { setOffset(d.now_ms); showLoggedOut(d.at_ms); });
  on('ended', function () { loggedOut = true; es.close(); location.assign('/desk/'); });
  on('state', function (d) { setOffset(d.now_ms); setStatus(d.status, d.reasons); });
  on('policy', setPolicy);
  on('conversations', renderConversations);
  es.onerror = function () {
    // A refused stream (the session is over) closes for good; a dropped
    // one reconnects by itself.
    if (es.readyState === EventSource.CLOSED && !loggedOut) location.assign('/desk/');
  };

  reportVisibility();
})();
