/*
 * safari-push browser SDK, served by the push service at /sdk.js.
 *
 *   <script src="https://push.example.com/sdk.js"></script>
 *   <script>SafariPush.init({ userId: '42', signature: '…', serviceWorker: '/push-sw.js' }).then(console.log)</script>
 *
 * Picks the standard Push API where the browser has it, else legacy Safari's
 * window.safari.pushNotification. Shows a soft prompt before the browser's own; after "No thanks"
 * it does not ask again for `askAgainAfterDays`. Resolves with what happened:
 * 'subscribed' | 'already-subscribed' | 'dismissed' | 'snoozed' | 'denied' | 'unsupported'.
 */
(function () {
  'use strict';
  var CONFIG = /*CONFIG*/ null;
  var DISMISSED_KEY = 'safari-push:dismissed-at';
  var DAY_MS = 24 * 60 * 60 * 1000;
  var script = document.currentScript;
  // The service is wherever this script came from (the configured webServiceURL otherwise).
  var apiBase = script && script.src ? new URL(script.src).origin : CONFIG.serviceUrl;

  var DEFAULT_PROMPT = {
    title: 'Get notified?',
    text: 'We can send you a notification when there is news. You can turn this off at any time.',
    allow: 'Allow',
    deny: 'No thanks',
  };

  function support() {
    if ('serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window) return 'webpush';
    if (window.safari && window.safari.pushNotification) return 'safari';
    return 'none';
  }

  function legacyPermission() {
    if (!window.safari || !window.safari.pushNotification) return undefined;
    return window.safari.pushNotification.permission(CONFIG.websitePushId);
  }

  function identity(options) {
    var claim = {};
    ['userId', 'signature', 'userToken'].forEach(function (key) {
      if (options[key] !== undefined && options[key] !== null) claim[key] = String(options[key]);
    });
    return claim;
  }

  function snoozed(options) {
    var at = Number(localStorage.getItem(DISMISSED_KEY) || 0);
    var days = options.askAgainAfterDays === undefined ? 7 : Number(options.askAgainAfterDays);
    return at > 0 && Date.now() - at < days * DAY_MS;
  }

  function urlBase64ToBytes(value) {
    var padded = (value + '='.repeat((4 - (value.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  /** The soft prompt: plain DOM, texts set as text (never HTML). Calls back from the click itself. */
  function showPrompt(texts, onAnswer) {
    var box = document.createElement('div');
    box.id = 'safari-push-prompt';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-labelledby', 'safari-push-prompt-title');
    var s = box.style;
    s.position = 'fixed'; s.top = '16px'; s.left = '50%'; s.transform = 'translateX(-50%)'; s.zIndex = '2147483647';
    s.maxWidth = '360px'; s.padding = '16px'; s.background = '#fff'; s.color = '#111'; s.font = '14px/1.4 system-ui, sans-serif';
    s.borderRadius = '8px'; s.boxShadow = '0 4px 24px rgba(0,0,0,.25)';
    var title = document.createElement('strong');
    title.id = 'safari-push-prompt-title';
    title.textContent = texts.title;
    var text = document.createElement('p');
    text.textContent = texts.text;
    var allow = document.createElement('button');
    allow.type = 'button';
    allow.setAttribute('data-action', 'allow');
    allow.textContent = texts.allow;
    var deny = document.createElement('button');
    deny.type = 'button';
    deny.setAttribute('data-action', 'deny');
    deny.textContent = texts.deny;
    deny.style.marginLeft = '8px';
    box.appendChild(title);
    box.appendChild(text);
    box.appendChild(allow);
    box.appendChild(deny);
    function answer(value) {
      return function () {
        box.remove();
        onAnswer(value);
      };
    }
    allow.addEventListener('click', answer('allow'));
    deny.addEventListener('click', answer('deny'));
    (document.body || document.documentElement).appendChild(box);
  }

  function post(path, method, body) {
    return fetch(apiBase + path, {
      method: method,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    }).then(function (res) {
      if (!res.ok) {
        return res.text().then(function (text) {
          throw new Error('safari-push: ' + method + ' ' + path + ' answered ' + res.status + ' ' + text);
        });
      }
      return res;
    });
  }

  /** Registers the site's service worker, subscribes (or reuses the subscription) and stores it. */
  function subscribeWebPush(options) {
    var swUrl = options.serviceWorker || '/push-sw.js';
    return navigator.serviceWorker
      .register(swUrl, { scope: options.serviceWorkerScope || '/' })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (registration) {
        return registration.pushManager.getSubscription().then(function (existing) {
          return (
            existing ||
            registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(CONFIG.vapidPublicKey) })
          );
        });
      })
      .then(function (subscription) {
        var body = identity(options);
        body.subscription = subscription.toJSON();
        return post('/api/v1/subscriptions', 'POST', body);
      });
  }

  function requestSafari(options, done) {
    window.safari.pushNotification.requestPermission(CONFIG.serviceUrl, CONFIG.websitePushId, identity(options), function (permission) {
      done(permission.permission === 'granted' ? 'subscribed' : permission.permission === 'denied' ? 'denied' : 'dismissed');
    });
  }

  function init(options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      var kind = support();
      if (kind === 'none') return resolve('unsupported');
      // Visitors subscribed through legacy Safari keep that subscription: no second prompt.
      var legacy = legacyPermission();
      if (legacy && legacy.permission === 'granted') return resolve('already-subscribed');
      if (kind === 'safari' && legacy && legacy.permission === 'denied') return resolve('denied');
      if (kind === 'webpush') {
        if (Notification.permission === 'denied') return resolve('denied');
        // Already allowed: refresh the stored subscription (keys or user may have changed), no prompt.
        if (Notification.permission === 'granted') {
          return subscribeWebPush(options).then(function () {
            resolve('already-subscribed');
          }, reject);
        }
      }
      if (snoozed(options)) return resolve('snoozed');
      var texts = Object.assign({}, DEFAULT_PROMPT, options.prompt || {});
      showPrompt(texts, function (choice) {
        if (choice === 'deny') {
          localStorage.setItem(DISMISSED_KEY, String(Date.now()));
          return resolve('dismissed');
        }
        localStorage.removeItem(DISMISSED_KEY);
        // Still inside the click: browsers only show their prompt for a user gesture.
        if (kind === 'safari') return requestSafari(options, resolve);
        Notification.requestPermission().then(function (permission) {
          if (permission !== 'granted') return resolve(permission === 'denied' ? 'denied' : 'dismissed');
          return subscribeWebPush(options).then(function () {
            resolve('subscribed');
          });
        }).catch(reject);
      });
    });
  }

  /** Removes this browser's Web Push subscription, here and at the service. */
  function unsubscribe() {
    if (support() !== 'webpush') return Promise.resolve(false);
    return navigator.serviceWorker.getRegistration().then(function (registration) {
      return registration && registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) return false;
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return post('/api/v1/subscriptions', 'DELETE', { endpoint: endpoint }).then(function () {
          return true;
        });
      });
    });
  }

  window.SafariPush = { init: init, unsubscribe: unsubscribe, support: support, config: CONFIG };
})();
