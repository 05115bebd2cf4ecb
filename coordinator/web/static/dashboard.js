// The live dashboard: a snapshot and per-user changes over Server-Sent
// Events. Countdowns and counted inactivity are computed from the server's
// deadline and clock (offset = server time − local time) whenever the page
// draws, so a throttled tab never shows a stale or stalled count.
(function () {
  'use strict';
  var table = document.getElementById('users');
  var tbody = table.tBodies[0];
  var live = document.getElementById('live');
  var users = {};   // user → {u: row data, asOf: server ms of u.inactivity_ms}
  var rows = {};    // user → <tr>
  var offset = Number(table.dataset.nowMs) - Date.now();
  var hasConversations = true;

  function serverNow() { return Date.now() + offset; }

  var statusText = {
    offline: 'Not logged in', active: 'Active', warned: 'Warned', paused: 'Paused',
    disabled: 'Timeout off', logged_out: 'Logged out'
  };
  var reasonText = { minimized: 'minimized', not_in_front: 'not in front', on_call: 'on a call' };

  function clock(ms) {
    var d = new Date(ms);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function stateText(u) {
    var t = statusText[u.status] || u.status;
    if (u.status === 'paused' && u.reasons && u.reasons.length) {
      t += ' — ' + u.reasons.map(function (r) { return reasonText[r] || r; }).join(', ');
    }
    return t;
  }
  function sensorText(u) {
    switch (u.sensor) {
      case 'live': return u.locked ? 'Live (screen locked)' : 'Live';
      case 'stale': return 'Stale — silent since ' + (u.last_seen_ms ? clock(u.last_seen_ms) : '?');
      default: return 'No sensor';
    }
  }
  function convText(u) {
    if (!hasConversations) return 'n/a';
    var cs = u.conversations || [];
    if (!cs.length) return 'none';
    return cs.map(function (c) { return c.channel + (c.state === 'active' ? '' : ' (' + c.state + ')'); }).join(', ');
  }

  function set(el, text) { if (el.textContent !== text) el.textContent = text; }

  function rowFor(name) {
    var tr = rows[name];
    if (tr) return tr;
    var empty = tbody.querySelector('.empty-row');
    if (empty) empty.remove();
    tr = document.createElement('tr');
    tr.dataset.user = name;
    var th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    tr.appendChild(th);
    ['c-state', 'c-countdown', 'c-inactivity', 'c-sensor', 'c-host', 'c-convs'].forEach(function (c) {
      var td = document.createElement('td');
      td.className = c;
      tr.appendChild(td);
    });
    // Keep the rows in name order.
    var next = null;
    Object.keys(rows).forEach(function (n) {
      if (n > name && (!next || n < next.dataset.user)) next = rows[n];
    });
    tbody.insertBefore(tr, next);
    rows[name] = tr;
    return tr;
  }

  function draw(name) {
    var e = users[name];
    var u = e.u;
    var tr = rowFor(name);
    if (tr.dataset.status !== u.status) tr.dataset.status = u.status;
    set(tr.querySelector('.c-state'), stateText(u));
    var sensor = tr.querySelector('.c-sensor');
    set(sensor, sensorText(u));
    sensor.className = 'c-sensor sensor-' + u.sensor;
    set(tr.querySelector('.c-host'), hostText(u));
    set(tr.querySelector('.c-convs'), convText(u));
    tick(name);
  }

  // The desk session's host, and how many sessions the user has live.
  function hostText(u) {
    var h = u.host || '—';
    return u.sessions > 1 ? h + ' (' + u.sessions + ' sessions)' : h;
  }

  function tick(name) {
    var e = users[name];
    var u = e.u;
    var tr = rows[name];
    var now = serverNow();
    var cd = '—';
    if (u.status === 'warned' && u.deadline_ms) {
      cd = Math.max(0, Math.ceil((u.deadline_ms - now) / 1000)) + ' s';
    }
    set(tr.querySelector('.c-countdown'), cd);
    var counting = u.status === 'active' || u.status === 'warned';
    var inact = u.inactivity_ms + (counting ? Math.max(0, now - e.asOf) : 0);
    set(tr.querySelector('.c-inactivity'), duration(inact));
  }

  function tickAll() { Object.keys(users).forEach(tick); }

  function snapshot(d) {
    offset = d.now_ms - Date.now();
    hasConversations = d.conversations;
    var seen = {};
    d.users.forEach(function (u) {
      seen[u.user] = true;
      users[u.user] = { u: u, asOf: d.now_ms };
      draw(u.user);
    });
    Object.keys(rows).forEach(function (n) {
      if (!seen[n]) { rows[n].remove(); delete rows[n]; delete users[n]; }
    });
  }

  function update(d) {
    offset = d.now_ms - Date.now();
    var u = d.user;
    var old = users[u.user];
    if (!u.conversations) u.conversations = old ? old.u.conversations : [];
    users[u.user] = { u: u, asOf: d.as_of_ms };
    draw(u.user);
  }

  // Take over the server-rendered rows.
  Array.prototype.forEach.call(tbody.querySelectorAll('tr[data-user]'), function (tr) {
    rows[tr.dataset.user] = tr;
  });

  var es = new EventSource('/admin/dashboard/events');
  es.addEventListener('snapshot', function (ev) { snapshot(JSON.parse(ev.data)); });
  es.addEventListener('user', function (ev) { update(JSON.parse(ev.data)); });
  es.onopen = function () { live.textContent = 'Live'; live.className = 'live on'; };
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) {
      live.textContent = 'Disconnected — reload the page (your session may have ended)';
    } else {
      live.textContent = 'Reconnecting…';
    }
    live.className = 'live off';
  };
  setInterval(tickAll, 250);
})();
