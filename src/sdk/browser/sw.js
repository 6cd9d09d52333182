/*
 * safari-push service worker, served by the push service at /sw.js. A service worker must come
 * from the site's own origin, so the site serves a one-line file (e.g. /push-sw.js):
 *
 *   importScripts('https://push.example.com/sw.js');
 *
 * Every push is a declarative push message ({"web_push": 8030, "notification": {...}}). Browsers
 * that implement declarative push (Safari 18.4+, Firefox) show it themselves and hand it to this
 * worker as event.notification; here the worker leaves it to them. Elsewhere (Chromium) this
 * worker shows the same JSON: title, body, icon, image, badge, actions, tag, ... and on a click
 * opens the notification's `navigate` URL, or the clicked button's. With click tracking those are
 * this service's click links, which count the click and redirect to the page, and the message
 * carries a "shown" link (safari_push.shown) this worker posts to once the notification is shown.
 */
'use strict';

var OPTION_FIELDS = ['body', 'icon', 'image', 'badge', 'tag', 'renotify', 'silent', 'requireInteraction', 'lang', 'dir', 'timestamp'];
// Where this worker keeps its own fields in notification.data, beside the sender's `data`.
var OWN = 'safariPush';

/** The notification to show and where its clicks go, from a declarative message or an older payload. */
function toShow(message) {
  var n = message && message.web_push === 8030 && message.notification ? message.notification : null;
  if (!n) {
    // A payload of an earlier version: {title, body, icon, url, tag, click}.
    var old = message || {};
    var legacy = { data: {} };
    legacy.data[OWN] = { navigate: old.url, click: old.click, actions: {} };
    return { title: old.title || '', options: { body: old.body || '', icon: old.icon, tag: old.tag, data: legacy.data } };
  }
  var own = { navigate: n.navigate, actions: {} };
  var options = { data: { data: n.data } };
  options.data[OWN] = own;
  OPTION_FIELDS.forEach(function (field) {
    if (n[field] !== undefined) options[field] = n[field];
  });
  if (Array.isArray(n.actions)) {
    options.actions = n.actions.map(function (action) {
      own.actions[action.action] = action.navigate;
      var shown = { action: action.action, title: action.title };
      if (action.icon) shown.icon = action.icon;
      return shown;
    });
  }
  return { title: n.title || '', options: options, appBadge: message.app_badge };
}

/** The service's "shown" link of a message (with click tracking), or null. */
function shownLink(message) {
  var own = message && message.safari_push;
  return own && typeof own.shown === 'string' && /^https?:\/\//.test(own.shown) ? own.shown : null;
}

/** Tells the service the notification is on screen (no-cors; kept alive if the worker stops). */
function reportShown(link) {
  return fetch(link, { method: 'POST', mode: 'no-cors', keepalive: true, credentials: 'omit' }).catch(function () {});
}

self.addEventListener('push', function (event) {
  var message;
  try {
    message = event.data ? event.data.json() : {};
  } catch (error) {
    message = { title: '', body: event.data ? event.data.text() : '' };
  }
  var link = shownLink(message);
  // Declarative push: the browser shows event.notification itself unless this worker shows another.
  if (event.notification) {
    if (link) event.waitUntil(reportShown(link));
    return;
  }
  var shown = toShow(message);
  var work = [
    self.registration.showNotification(shown.title, shown.options).then(function () {
      if (link) return reportShown(link);
    }),
  ];
  if (typeof shown.appBadge === 'number' && self.navigator && self.navigator.setAppBadge) {
    work.push((shown.appBadge > 0 ? self.navigator.setAppBadge(shown.appBadge) : self.navigator.clearAppBadge()).catch(function () {}));
  }
  event.waitUntil(Promise.all(work));
});

self.addEventListener('notificationclick', function (event) {
  // Only notifications this worker showed carry its fields; one the browser showed from a
  // declarative message navigates by itself, and the sender's data is never read as instructions.
  var data = (event.notification && event.notification.data && event.notification.data[OWN]) || null;
  if (!data) return;
  event.notification.close();
  var target = (event.action && data.actions && data.actions[event.action]) || data.navigate;
  var work = [];
  // An earlier version's payload reports the click itself (no-cors; kept alive if the worker stops).
  if (data.click) work.push(fetch(data.click, { method: 'POST', mode: 'no-cors', keepalive: true, credentials: 'omit' }).catch(function () {}));
  if (target) work.push(self.clients.openWindow(target).catch(function () {}));
  event.waitUntil(Promise.all(work));
});
