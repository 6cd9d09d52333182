/*
 * safari-push admin console: a static page over the JSON API. The API key from the login form
 * lives in this tab's sessionStorage only and goes out as `Authorization: Bearer`. Everything
 * shown comes from outside (log messages are written by anyone), so text is only ever set with
 * textContent, never as HTML.
 */
'use strict';

(function () {
  var KEY = 'safari-push-admin-key';
  var $ = function (id) { return document.getElementById(id); };
  var cursors = { logs: null, notifications: null, devices: null };

  function api(path, method) {
    return fetch('/api/v1' + path, { method: method || 'GET', headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) } }).then(function (res) {
      if (res.status === 401) {
        logout('The API key was refused.');
        throw new Error('unauthorized');
      }
      if (res.status === 204) return null;
      return res.json().then(function (body) {
        if (!res.ok) throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
        return body;
      });
    });
  }

  function showError(error) {
    if (error && error.message !== 'unauthorized') $('error').textContent = String(error.message || error);
  }

  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function when(isoTime) {
    return isoTime ? new Date(isoTime).toLocaleString() : '';
  }

  function clear(id) {
    var node = $(id);
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // Logs: newest first, searchable, and a count per distinct message over the last 30 days.
  function loadLogs(more) {
    var search = $('log-query').value.trim();
    var query = '?limit=50' + (search ? '&search=' + encodeURIComponent(search) : '') + (more && cursors.logs ? '&cursor=' + encodeURIComponent(cursors.logs) : '');
    var rows = more ? $('log-rows') : clear('log-rows');
    return api('/logs' + query).then(function (page) {
      page.items.forEach(function (log) {
        var row = document.createElement('tr');
        row.className = 'log-row';
        cell(row, when(log.createdAt));
        cell(row, log.message, 'mono log-message');
        cell(row, [log.clientIp, log.userAgent].filter(Boolean).join(' · '));
        rows.appendChild(row);
      });
      cursors.logs = page.nextCursor;
      $('log-more').hidden = !page.nextCursor;
    });
  }

  function loadLogSummary() {
    var rows = clear('log-summary');
    return api('/logs/summary?days=30').then(function (summary) {
      summary.items.forEach(function (item) {
        var row = document.createElement('tr');
        cell(row, item.message, 'mono');
        cell(row, item.count);
        cell(row, when(item.lastAt));
        cell(row, item.perDay.map(function (d) { return d.day + ': ' + d.count; }).join(', '));
        rows.appendChild(row);
      });
    });
  }

  // Devices: totals per channel, lookup by user id or token.
  function loadTotals() {
    return api('/devices/totals').then(function (totals) {
      $('device-totals').textContent = 'Safari devices: ' + totals.safari + ' · Web Push subscriptions: ' + totals.webpush + ' · all: ' + totals.all;
    });
  }

  function deleteDevice(device, row) {
    if (!window.confirm('Delete this ' + (device.channel === 'safari' ? 'Safari device' : 'Web Push subscription') + '? It gets no notification after this; it comes back only when the browser registers again.')) return;
    api('/devices/' + encodeURIComponent(device.token), 'DELETE').then(function () {
      row.remove();
      $('device-message').textContent = 'Deleted ' + device.token + '.';
      return loadTotals();
    }).catch(showError);
  }

  function showDevices(devices, append) {
    var rows = append ? $('device-rows') : clear('device-rows');
    if (!append) $('device-message').textContent = devices.length === 0 ? 'No device found.' : '';
    devices.forEach(function (device) {
      var row = document.createElement('tr');
      row.className = 'device-row';
      cell(row, device.channel);
      cell(row, device.token, 'mono');
      cell(row, device.userId);
      cell(row, when(device.registeredAt));
      cell(row, device.endpoint || '', 'mono');
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'danger';
      remove.textContent = 'Delete';
      remove.setAttribute('aria-label', 'Delete device ' + device.token);
      remove.addEventListener('click', function () { deleteDevice(device, row); });
      row.appendChild(document.createElement('td')).appendChild(remove);
      rows.appendChild(row);
    });
  }

  // Newest first, optionally one user's or one channel's, a page at a time.
  function listDevices(more) {
    var by = $('device-by').value;
    var query = $('device-query').value.trim();
    var channel = $('device-channel').value;
    if (by === 'token' && query) {
      $('device-more').hidden = true;
      return api('/devices/' + encodeURIComponent(query)).then(function (device) { return [device]; }, function (error) {
        if (/No device/.test(error.message)) return [];
        throw error;
      }).then(function (devices) { showDevices(devices, false); });
    }
    var path = '/devices?limit=50' + (query ? '&userId=' + encodeURIComponent(query) : '') + (channel ? '&channel=' + channel : '') + (more && cursors.devices ? '&cursor=' + encodeURIComponent(cursors.devices) : '');
    return api(path).then(function (page) {
      showDevices(page.items, more);
      cursors.devices = page.nextCursor;
      $('device-more').hidden = !page.nextCursor;
    });
  }

  function lookupDevice(event) {
    event.preventDefault();
    listDevices(false).catch(showError);
  }

  // Notifications: counts, and the failed deliveries of one with their reasons.
  function loadNotifications(more) {
    var rows = more ? $('notification-rows') : clear('notification-rows');
    var query = '?limit=50' + (more && cursors.notifications ? '&cursor=' + encodeURIComponent(cursors.notifications) : '');
    return api('/notifications' + query).then(function (page) {
      page.items.forEach(function (n) {
        var row = document.createElement('tr');
        row.className = 'notification-row';
        cell(row, when(n.createdAt));
        cell(row, n.title);
        cell(row, n.status);
        ['targeted', 'sent', 'failed', 'removed', 'clicked'].forEach(function (k) { cell(row, n.counts[k]); });
        var open = document.createElement('button');
        open.type = 'button';
        open.textContent = 'Open';
        open.addEventListener('click', function () { openNotification(n.id).catch(showError); });
        row.appendChild(document.createElement('td')).appendChild(open);
        rows.appendChild(row);
      });
      cursors.notifications = page.nextCursor;
      $('notification-more').hidden = !page.nextCursor;
    });
  }

  function openNotification(id) {
    var base = '/notifications/' + encodeURIComponent(id);
    return Promise.all([api(base), api(base + '/deliveries?outcome=failed&limit=200'), api(base + '/deliveries?outcome=removed&limit=200')]).then(function (results) {
      var n = results[0];
      $('notification-detail').hidden = false;
      $('detail-title').textContent = n.title;
      var c = n.counts;
      $('detail-summary').textContent = n.body + ' — ' + n.status + ': targeted ' + c.targeted + ', sent ' + c.sent + ', failed ' + c.failed + ', removed ' + c.removed + ', clicked ' + c.clicked + ', pending ' + c.pending;
      $('detail-error').textContent = n.error || '';
      var rows = clear('failed-rows');
      results[1].items.concat(results[2].items).forEach(function (d) {
        var row = document.createElement('tr');
        row.className = 'failed-row';
        cell(row, d.outcome);
        cell(row, d.channel);
        cell(row, d.token, 'mono');
        cell(row, d.status);
        cell(row, d.reason);
        cell(row, d.attempts);
        rows.appendChild(row);
      });
    });
  }

  // Health: certificate expiry and how APNs and push services answered last.
  function term(list, name, value, className) {
    var dt = document.createElement('dt');
    dt.textContent = name;
    var dd = document.createElement('dd');
    dd.textContent = value;
    if (className) dd.className = className;
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function answerText(answer) {
    if (!answer) return ['no send yet', ''];
    var text = when(answer.at) + ': ' + (answer.status === null ? 'no answer' : 'HTTP ' + answer.status) + (answer.reason ? ' (' + answer.reason + ')' : '');
    var good = answer.reachable && answer.outcome !== 'failed';
    return [(answer.reachable ? 'reachable — ' : 'NOT reachable — ') + text, good ? 'ok' : 'error'];
  }

  function loadHealth() {
    return api('/admin/health').then(function (h) {
      var list = clear('health-list');
      var cert = h.signing.certificate;
      term(list, 'Website push certificate', cert.subject + ' — expires ' + when(cert.notAfter) + ' (' + cert.daysLeft + ' days)' + (h.signing.development ? ' — DEVELOPMENT certificate, Safari rejects it' : ''), cert.daysLeft < 30 || h.signing.development ? 'warn' : 'ok');
      term(list, 'WWDR intermediate', 'expires ' + when(h.signing.intermediate.notAfter) + ' (' + h.signing.intermediate.daysLeft + ' days)', h.signing.intermediate.daysLeft < 30 ? 'warn' : 'ok');
      term(list, 'APNs', h.apns.host + ', ' + h.apns.auth + ' auth' + (h.apns.keyId ? ' (key ' + h.apns.keyId + ', team ' + h.apns.teamId + ')' : ''));
      var apns = answerText(h.apns.lastAnswer);
      term(list, 'APNs, last send', apns[0], apns[1]);
      var web = answerText(h.webPush.lastAnswer);
      term(list, 'Web Push, last send', web[0], web[1]);
      term(list, 'VAPID', h.webPush.subject + ' · ' + h.webPush.vapidPublicKey, 'mono');
      term(list, 'Click tracking', h.clickTracking ? 'on' : 'off');
      term(list, 'Queue / database', h.queue + ' / ' + h.database);
    });
  }

  var loaders = {
    logs: function () { return Promise.all([loadLogs(false), loadLogSummary()]); },
    devices: function () { return Promise.all([loadTotals(), listDevices(false)]); },
    notifications: function () { return loadNotifications(false); },
    health: loadHealth,
  };

  function showTab(name) {
    $('error').textContent = '';
    Object.keys(loaders).forEach(function (tab) { $(tab).hidden = tab !== name; });
    Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (button) {
      button.classList.toggle('active', button.getAttribute('data-tab') === name);
    });
    return loaders[name]().catch(showError);
  }

  function loggedIn() {
    $('login').hidden = true;
    $('tabs').hidden = false;
    return showTab('logs');
  }

  function logout(message) {
    sessionStorage.removeItem(KEY);
    Object.keys(loaders).forEach(function (tab) { $(tab).hidden = true; });
    $('tabs').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  function login(event) {
    event.preventDefault();
    var key = $('api-key').value;
    $('api-key').value = '';
    fetch('/api/v1/devices/totals', { headers: { Authorization: 'Bearer ' + key } }).then(function (res) {
      if (!res.ok) {
        $('login-error').textContent = res.status === 401 ? 'That API key is not valid.' : 'Login failed: HTTP ' + res.status;
        return;
      }
      sessionStorage.setItem(KEY, key);
      $('login-error').textContent = '';
      loggedIn();
    }, function (error) {
      $('login-error').textContent = 'Login failed: ' + error.message;
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login').addEventListener('submit', login);
    $('logout').addEventListener('click', function () { logout(''); });
    Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (button) {
      button.addEventListener('click', function () { showTab(button.getAttribute('data-tab')); });
    });
    $('log-search').addEventListener('submit', function (event) { event.preventDefault(); loadLogs(false).catch(showError); });
    $('log-more').addEventListener('click', function () { loadLogs(true).catch(showError); });
    $('notification-more').addEventListener('click', function () { loadNotifications(true).catch(showError); });
    $('device-lookup').addEventListener('submit', lookupDevice);
    $('device-more').addEventListener('click', function () { listDevices(true).catch(showError); });
    if (sessionStorage.getItem(KEY)) loggedIn();
    else logout('');
  });
})();
