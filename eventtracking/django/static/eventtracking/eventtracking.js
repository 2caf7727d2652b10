/*
 * eventtracking's browser client: eventtracking.emit(name, data) and Logger.log(name, data).
 *
 * Loaded by {% load eventtracking %}{% eventtracking_script %}, which sets the data- attributes read below.
 * Events are queued and posted to the site's `event` view as {"events": [...]} in batches: when `batchSize`
 * are queued, or `interval` ms after the first one. A batch that meets a network failure or a 5xx answer is
 * put back and retried with a doubling delay (up to a minute), sooner when the browser comes back online;
 * a 4xx answer is final (the server refused and counted it). The queue keeps at most `maxQueue` events,
 * dropping the oldest. When the page is hidden or left, everything queued goes out with sendBeacon, as a
 * form with the CSRF token. No dependency, no build step.
 */
(function (window, document) {
  'use strict';

  var script = document.currentScript;
  var options = (script && script.dataset) || {};
  var url = options.url || '/event';
  var batchSize = +options.batchSize || 10;
  var interval = +options.interval || 1000;
  var maxQueue = +options.maxQueue || 500;
  var maxDelay = 60000;
  var beaconEvents = Math.min(batchSize, 20); // a browser lets the beacons in flight carry about 64 KB

  var queue = [];
  var sending = false;
  var timer = null;
  var delay = 0; // the retry delay after a failure; 0 while the server answers

  function csrfToken() {
    var cookie = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
    return options.csrf || (cookie ? decodeURIComponent(cookie[1]) : '');
  }

  function keep(events) {
    queue = events.concat(queue);
    if (queue.length > maxQueue) {
      queue.splice(0, queue.length - maxQueue);
    }
  }

  function emit(name, data) {
    var event = {name: String(name), data: data || {}, page: window.location.href, time: new Date().toISOString()};
    try {
      JSON.stringify(event);
    } catch (error) {
      return; // data JSON cannot carry (a cycle): it would stop every batch after it
    }
    queue.push(event);
    keep([]);
    if (queue.length >= batchSize && !delay) {
      send();
    } else {
      later(delay || interval);
    }
  }

  function later(ms, reset) {
    if (reset) {
      window.clearTimeout(timer);
      timer = null;
    }
    if (timer === null) {
      timer = window.setTimeout(function () {
        timer = null;
        send();
      }, ms);
    }
  }

  function failed(batch) {
    sending = false;
    keep(batch);
    delay = Math.min(delay ? delay * 2 : interval, maxDelay);
    later(delay, true);
  }

  function send() {
    if (sending || !queue.length) {
      return;
    }
    if (navigator.onLine === false) {
      failed([]);
      return;
    }
    var batch = queue.splice(0, batchSize);
    sending = true;
    window.fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      keepalive: true,
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrfToken()},
      body: JSON.stringify({events: batch})
    }).then(function (response) {
      if (response.status >= 500) {
        failed(batch);
        return;
      }
      sending = false;
      delay = 0;
      if (queue.length >= batchSize) {
        send();
      } else if (queue.length) {
        later(interval);
      }
    }, function () {
      failed(batch);
    });
  }

  function beacon() {
    while (queue.length && navigator.sendBeacon) {
      var batch = queue.slice(0, beaconEvents);
      var form = new URLSearchParams();
      form.append('csrfmiddlewaretoken', csrfToken());
      form.append('events', JSON.stringify({events: batch}));
      if (!navigator.sendBeacon(url, form)) {
        return;
      }
      queue.splice(0, batch.length);
    }
  }

  window.addEventListener('pagehide', beacon);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') {
      beacon();
    }
  });
  window.addEventListener('online', function () {
    delay = 0;
    send();
  });

  window.eventtracking = {emit: emit, flush: send};
  window.Logger = window.Logger || {};
  if (!window.Logger.log) {
    window.Logger.log = emit;
  }
}(window, document));
