/*
 * safari-push browser SDK, served by the push service at /sdk.js.
 *
 *   <script src="https://push.example.com/sdk.js"></script>
 *   <script>
 *     SafariPush.init({ userId: '42', signature: '…', serviceWorker: '/push-sw.js' })
 *       .then(function (outcome) { console.log(outcome); })
 *       .catch(function (error) { console.warn(error.code, error.message); });
 *   </script>
 *
 * Picks the standard Push API where the browser has it, else legacy Safari's
 * window.safari.pushNotification. Shows a soft prompt before the browser's own; after "No thanks"
 * (or its close button, or Escape) it does not ask again for `askAgainAfterDays`. Resolves with what
 * happened: 'subscribed' | 'already-subscribed' | 'dismissed' | 'snoozed' | 'denied' | 'unsupported'.
 * Rejects with a SafariPushError whose `code` says what went wrong once the visitor had allowed:
 *   'timeout'          the browser's push service or the service worker did not answer within
 *                      `timeout` ms (default 15000): offline, or the push service is blocked;
 *   'subscribe-failed' the browser refused to subscribe (push service unreachable, bad key, …);
 *   'network'          this service could not be reached (offline, blocked, or a CORS failure);
 *   'refused'          this service answered with an error (`status`, `serviceCode`), e.g. 403
 *                      origin_not_allowed when the page's origin is not in ALLOWED_DOMAINS.
 * Problems a site's developer must fix are also written to the browser console.
 *
 * Once subscribed, the SDK reports the browser's time zone and language with the subscription
 * and, at most once a day, a visit. SafariPush.track(name, properties) records an event and
 * SafariPush.identify(userId, { signature }) binds this browser's device to a user; both resolve
 * true when sent, false when this browser has no subscription yet.
 */
(function () {
  'use strict';
  var CONFIG = /*CONFIG*/ null;
  var DISMISSED_KEY = 'safari-push:dismissed-at';
  // This browser's device token (Web Push: what the service answered), and when a visit was last reported.
  var TOKEN_KEY = 'safari-push:token';
  var VISIT_KEY = 'safari-push:visit-at';
  var DAY_MS = 24 * 60 * 60 * 1000;
  var DEFAULT_TIMEOUT_MS = 15000;
  var script = document.currentScript;
  // The service is wherever this script came from (the configured webServiceURL otherwise).
  var apiBase = script && script.src ? new URL(script.src).origin : CONFIG.serviceUrl;

  var DEFAULT_PROMPT = {
    title: 'Get notified?',
    text: 'We can send you a notification when there is news. You can turn this off at any time.',
    allow: 'Allow',
    deny: 'No thanks',
    close: 'Close',
    // 'auto': a card at the top right on wide screens, a bottom sheet on narrow ones (the page's
    // heading stays visible); 'top' or 'bottom' force one.
    position: 'auto',
  };
  var DEFAULT_COLORS = { background: '#ffffff', text: '#111827', primary: '#1d4ed8', primaryText: '#ffffff', secondary: '#374151' };

  /** What init() and unsubscribe() reject with. */
  function SafariPushError(code, message, details) {
    var error = new Error('safari-push: ' + message);
    error.name = 'SafariPushError';
    error.code = code;
    if (details) Object.keys(details).forEach(function (key) { error[key] = details[key]; });
    return error;
  }

  /** Settles `promise` within `ms`, or rejects with code 'timeout' naming `what`. */
  function within(promise, ms, what) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(SafariPushError('timeout', what + ' did not answer within ' + ms + ' ms (offline, or the browser\'s push service is blocked)'));
      }, ms);
      promise.then(function (value) { clearTimeout(timer); resolve(value); }, function (error) { clearTimeout(timer); reject(error); });
    });
  }

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

  /** The browser's time zone and language: device facts sent with every subscription and visit. */
  function facts() {
    var found = {};
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) found.timezone = zone;
    } catch (ignored) { /* no Intl: no time zone */ }
    if (navigator.language) found.language = navigator.language;
    return found;
  }

  /** This browser's device token, once subscribed (legacy Safari knows its own). */
  function deviceToken() {
    var legacy = legacyPermission();
    if (legacy && legacy.permission === 'granted' && legacy.deviceToken) return legacy.deviceToken;
    try { return localStorage.getItem(TOKEN_KEY); } catch (ignored) { return null; }
  }

  /** Posts for this browser's device; resolves false when it has none (not subscribed). */
  function report(body) {
    var token = deviceToken();
    if (!token) return Promise.resolve(false);
    body.token = token;
    return post('/api/v1/sdk/events', 'POST', body, DEFAULT_TIMEOUT_MS).then(function () { return true; });
  }

  /** At most once a day: the visit (last seen) and the browser's facts. Never fails init(). */
  function reportVisit() {
    var at = Number(localStorage.getItem(VISIT_KEY) || 0);
    if (at > 0 && Date.now() - at < DAY_MS) return Promise.resolve(false);
    var body = facts();
    body.visit = true;
    return report(body).then(function (sent) {
      if (sent) localStorage.setItem(VISIT_KEY, String(Date.now()));
      return sent;
    }, function () { return false; });
  }

  /** Records an event for this browser's device (and its user): SafariPush.track('added_to_cart', {price: 59}). */
  function track(name, properties) {
    var event = { name: String(name) };
    if (properties !== undefined && properties !== null) event.properties = properties;
    return report({ events: [event] });
  }

  /**
   * Says who the visitor is: binds this browser's device to the user (with `signature` or
   * `userToken` when the service has USER_INFO_SECRET).
   */
  function identify(userId, proof) {
    var body = identity(Object.assign({}, proof || {}, { userId: userId }));
    return report(body);
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

  function button(text, action, primary, colors) {
    var b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.textContent = text;
    var s = b.style;
    s.minHeight = '44px'; s.minWidth = '44px'; s.padding = '10px 16px'; s.borderRadius = '8px'; s.cursor = 'pointer';
    s.font = 'inherit'; s.fontWeight = primary ? '600' : '500';
    s.border = primary ? '0' : '1px solid ' + colors.secondary;
    s.background = primary ? colors.primary : 'transparent';
    s.color = primary ? colors.primaryText : colors.secondary;
    return b;
  }

  /**
   * The soft prompt: plain DOM, texts set as text (never HTML), a dialog with a close button,
   * Escape to dismiss and 44 px touch targets. Calls back from the click itself (a user gesture).
   */
  function showPrompt(texts, colors, onAnswer) {
    // A phone: a narrow layout, or a narrow screen under a page laid out wider (no viewport meta).
    var narrow = Math.min(window.innerWidth || Infinity, (window.screen && window.screen.width) || Infinity) <= 600;
    var bottom = texts.position === 'bottom' || (texts.position !== 'top' && narrow);
    var box = document.createElement('div');
    box.id = 'safari-push-prompt';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-labelledby', 'safari-push-prompt-title');
    box.setAttribute('aria-describedby', 'safari-push-prompt-text');
    box.setAttribute('data-position', bottom ? 'bottom' : 'top');
    var s = box.style;
    s.position = 'fixed'; s.zIndex = '2147483647'; s.boxSizing = 'border-box'; s.padding = '16px 16px 16px';
    s.background = colors.background; s.color = colors.text; s.font = (narrow ? '16px' : '15px') + '/1.45 system-ui, -apple-system, sans-serif';
    s.boxShadow = '0 4px 24px rgba(0,0,0,.25)';
    if (bottom) {
      s.left = '0'; s.right = '0'; s.bottom = '0'; s.borderRadius = '16px 16px 0 0';
      s.paddingBottom = 'max(16px, env(safe-area-inset-bottom))';
    } else {
      s.top = '16px'; s.right = '16px'; s.maxWidth = '380px'; s.width = 'calc(100% - 32px)'; s.borderRadius = '12px';
    }
    var title = document.createElement('strong');
    title.id = 'safari-push-prompt-title';
    title.textContent = texts.title;
    title.style.display = 'block'; title.style.paddingRight = '44px'; title.style.fontSize = '1.05em';
    var text = document.createElement('p');
    text.id = 'safari-push-prompt-text';
    text.textContent = texts.text;
    text.style.margin = '8px 0 16px';
    var close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('data-action', 'close');
    close.setAttribute('aria-label', texts.close);
    close.textContent = '\u00d7';
    var c = close.style;
    c.position = 'absolute'; c.top = '4px'; c.right = '4px'; c.width = '44px'; c.height = '44px'; c.border = '0'; c.background = 'transparent';
    c.color = colors.secondary; c.fontSize = '24px'; c.lineHeight = '1'; c.cursor = 'pointer';
    var actions = document.createElement('div');
    actions.style.display = 'flex'; actions.style.gap = '8px'; actions.style.justifyContent = 'flex-end'; actions.style.flexWrap = 'wrap';
    var deny = button(texts.deny, 'deny', false, colors);
    var allow = button(texts.allow, 'allow', true, colors);
    actions.appendChild(deny);
    actions.appendChild(allow);
    box.appendChild(close);
    box.appendChild(title);
    box.appendChild(text);
    box.appendChild(actions);
    function finish(value) {
      document.removeEventListener('keydown', onKey, true);
      box.remove();
      onAnswer(value);
    }
    function onKey(event) {
      if (event.key === 'Escape') finish('deny');
    }
    allow.addEventListener('click', function () { finish('allow'); });
    deny.addEventListener('click', function () { finish('deny'); });
    close.addEventListener('click', function () { finish('deny'); });
    document.addEventListener('keydown', onKey, true);
    (document.body || document.documentElement).appendChild(box);
    allow.focus({ preventScroll: true });
  }

  /** Tells the site's developer, in the console, what they must fix on their side. */
  function explain(error) {
    if (error && error.code === 'refused' && error.serviceCode === 'origin_not_allowed') {
      console.error('safari-push: this page\'s origin (' + location.origin + ') is not in the service\'s ALLOWED_DOMAINS (allowedDomains of website.json): add it there. The service said: ' + error.serviceMessage);
    } else if (error && error.code === 'network') {
      console.error('safari-push: could not reach ' + apiBase + ' (offline, blocked, or a CORS failure: is this page\'s origin ' + location.origin + ' in the service\'s ALLOWED_DOMAINS?)');
    } else if (error && error.code) {
      console.error(error.message);
    }
    return error;
  }

  function post(path, method, body, timeoutMs) {
    var request = fetch(apiBase + path, {
      method: method,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    }).then(function (res) {
      if (res.ok) return res;
      return res.text().then(function (text) {
        var answer = {};
        try { answer = JSON.parse(text).error || {}; } catch (ignored) { answer = { message: text }; }
        throw SafariPushError('refused', method + ' ' + path + ' answered ' + res.status + (answer.message ? ': ' + answer.message : ''), { status: res.status, serviceCode: answer.code, serviceMessage: answer.message });
      });
    }, function (error) {
      throw SafariPushError('network', method + ' ' + path + ' failed: ' + (error && error.message));
    });
    return within(request, timeoutMs, 'The push service at ' + apiBase);
  }

  /** Registers the site's service worker, subscribes (or reuses the subscription) and stores it, each step bounded in time. */
  function subscribeWebPush(options) {
    var swUrl = options.serviceWorker || '/push-sw.js';
    var timeoutMs = options.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(options.timeout);
    var registered = navigator.serviceWorker.register(swUrl, { scope: options.serviceWorkerScope || '/' }).then(function () {
      return navigator.serviceWorker.ready;
    });
    return within(registered, timeoutMs, 'The service worker ' + swUrl)
      .then(function (registration) {
        var subscribed = registration.pushManager.getSubscription().then(function (existing) {
          return existing || registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(CONFIG.vapidPublicKey) });
        }).catch(function (error) {
          throw SafariPushError('subscribe-failed', 'the browser did not subscribe: ' + (error && error.message));
        });
        return within(subscribed, timeoutMs, 'The browser\'s push service');
      })
      .then(function (subscription) {
        var body = Object.assign(identity(options), facts());
        body.subscription = subscription.toJSON();
        return post('/api/v1/subscriptions', 'POST', body, timeoutMs);
      })
      .then(function (res) {
        return res.json().then(function (stored) {
          if (stored && stored.token) localStorage.setItem(TOKEN_KEY, stored.token);
        }, function () { /* stored; the token is only needed for track() */ });
      })
      .catch(function (error) {
        throw explain(error.code ? error : SafariPushError('subscribe-failed', String(error && error.message)));
      });
  }

  function requestSafari(options, done) {
    window.safari.pushNotification.requestPermission(CONFIG.serviceUrl, CONFIG.websitePushId, Object.assign(identity(options), facts()), function (permission) {
      done(permission.permission === 'granted' ? 'subscribed' : permission.permission === 'denied' ? 'denied' : 'dismissed');
    });
  }

  function init(options) {
    options = options || {};
    return initOnce(options).then(function (outcome) {
      if (outcome === 'subscribed' || outcome === 'already-subscribed') reportVisit();
      return outcome;
    });
  }

  function initOnce(options) {
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
      var colors = Object.assign({}, DEFAULT_COLORS, (options.prompt && options.prompt.colors) || {});
      showPrompt(texts, colors, function (choice) {
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
        localStorage.removeItem(TOKEN_KEY);
        return post('/api/v1/subscriptions', 'DELETE', { endpoint: endpoint }, DEFAULT_TIMEOUT_MS).then(function () {
          return true;
        });
      });
    });
  }

  window.SafariPush = { init: init, unsubscribe: unsubscribe, identify: identify, track: track, support: support, config: CONFIG };
})();
