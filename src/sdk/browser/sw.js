/*
 * safari-push service worker, served by the push service at /sw.js. A service worker must come
 * from the site's own origin, so the site serves a one-line file (e.g. /push-sw.js):
 *
 *   importScripts('https://push.example.com/sw.js');
 *
 * It shows each push (title, body, icon, deep link) and, with click tracking, reports the click.
 */
'use strict';

self.addEventListener('push', function (event) {
  var data;
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: '', body: event.data ? event.data.text() : '' };
  }
  var options = {
    body: data.body || '',
    data: { url: data.url, click: data.click, notificationId: data.notificationId },
  };
  if (data.icon) options.icon = data.icon;
  if (data.tag) options.tag = data.tag;
  event.waitUntil(self.registration.showNotification(data.title || '', options));
});

self.addEventListener('notificationclick', function (event) {
  var data = (event.notification && event.notification.data) || {};
  event.notification.close();
  var work = [];
  // A cross-origin report the page never reads: no-cors, and kept alive if the worker stops.
  if (data.click) work.push(fetch(data.click, { method: 'POST', mode: 'no-cors', keepalive: true, credentials: 'omit' }).catch(function () {}));
  if (data.url) work.push(self.clients.openWindow(data.url).catch(function () {}));
  event.waitUntil(Promise.all(work));
});
