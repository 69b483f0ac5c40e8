// unipool dashboard: reads /events (Server-Sent Events, one JSON frame per second) and renders
// every pool it names. Nothing here knows the list of protocols: a pool of a new protocol shows
// its generic figures, and its own figures as a list, without an edit. The admin token, when
// the server asks for one, lives in a variable of this script only (never in the DOM, the URL
// or storage) and is sent as `Authorization: Bearer` to /events.
(function () {
  'use strict';

  /** Points each chart keeps: 5 minutes of one frame per second. */
  var HISTORY = 300;
  /** Reconnect delay (ms) when the server sends none. */
  var DEFAULT_RETRY_MS = 2000;
  /** Keys of every pool's metrics that the common part of a card shows; others are protocol figures. */
  var COMMON_KEYS = ['protocol', 'active', 'idle', 'maxConnections', 'utilization', 'totalConnections', 'rejected', 'timeouts', 'errors', 'connectionsPerSecond', 'requests', 'latency', 'streams', 'bytes', 'windowMs'];

  var token = null;
  var retryMs = DEFAULT_RETRY_MS;
  var reconnectTimer = null;
  var pools = new Map();
  var lastHealth = new Map();
  var lastRunningPhase = null;
  var frames = 0;
  /** The server said the application shut down (`end` event); failures after that are expected. */
  var shutDown = false;
  /** The server ended the stream because its admin token changed (`end` event, reason "token changed"). */
  var tokenChanged = false;
  /** Cards made so far: numbers each card's element ids, unique even for names with the same slug. */
  var cardCount = 0;

  var integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var key in attrs) {
      if (key === 'text') node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-'); }

  /** True when `value` is what `node` was last drawn from; else remembers it (the caller redraws). */
  function unchanged(node, value) {
    var signature = JSON.stringify(value);
    if (node.getAttribute('data-signature') === signature) return true;
    node.setAttribute('data-signature', signature);
    return false;
  }

  function ms(value) { return value >= 100 ? integer.format(value) + ' ms' : decimal.format(value) + ' ms'; }

  function percent(ratio) { return decimal.format(ratio * 100) + ' %'; }

  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? integer.format(n) : decimal.format(n)) + ' ' + units[i];
  }

  function duration(seconds) {
    var s = Math.floor(seconds);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }

  /** Sets an element's text and its raw value (tests and tools read `data-value`). */
  function show(node, text, raw) {
    if (node.textContent !== text) node.textContent = text;
    node.setAttribute('data-value', raw === null || raw === undefined ? '' : String(raw));
  }

  function announce(text) {
    var region = $('announcer');
    region.textContent = '';
    // A fresh text node, so screen readers announce a repeated message too.
    setTimeout(function () { region.textContent = text; }, 50);
  }

  function setConnection(state, text) {
    var node = $('connection');
    node.setAttribute('data-state', state);
    if (node.textContent !== text) node.textContent = text;
  }

  // ------------------------------------------------------------------ charts

  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  /** `spanGaps`: whether a line joins across a missing point (null) or leaves a gap. */
  function chartOptions(width, series, yLabel, spanGaps) {
    var text = cssVar('--text');
    var grid = cssVar('--grid');
    var axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width: width,
      height: 150,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.1)]; } } },
      axes: [axis, Object.assign({ label: yLabel, size: 56, labelSize: 18 }, axis)],
      series: [{}].concat(series.map(function (s) { return { label: s.label, stroke: cssVar(s.color), width: 2, points: { show: false }, spanGaps: spanGaps }; })),
    };
  }

  function makeChart(container, series, yLabel, data, spanGaps) {
    var width = Math.max(200, Math.floor(container.clientWidth || 300));
    return new window.uPlot(chartOptions(width, series, yLabel, spanGaps), data, container);
  }

  var RATE_SERIES = [{ label: 'requests/s', color: '--series-1' }, { label: 'failed/s', color: '--series-err' }];
  var LATENCY_SERIES = [{ label: 'p50', color: '--series-1' }, { label: 'p95', color: '--series-2' }, { label: 'p99', color: '--series-3' }];

  function rebuildCharts(card) {
    if (!window.uPlot) return;
    if (card.rateChart) card.rateChart.destroy();
    if (card.latencyChart) card.latencyChart.destroy();
    card.rateChart = makeChart(card.rateBox, RATE_SERIES, 'per second', [card.history.t, card.history.rps, card.history.fps], true);
    // No request in the window: no latency, drawn as a gap rather than 0 ms.
    card.latencyChart = makeChart(card.latencyBox, LATENCY_SERIES, 'ms', [card.history.t, card.history.p50, card.history.p95, card.history.p99], false);
  }

  function resizeCharts(card) {
    [card.rateChart, card.latencyChart].forEach(function (chart) {
      if (!chart) return;
      var width = Math.max(200, Math.floor(chart.root.parentNode.clientWidth));
      if (width !== chart.width) chart.setSize({ width: width, height: 150 });
    });
  }

  function push(list, value) {
    list.push(value);
    if (list.length > HISTORY) list.shift();
  }

  // ------------------------------------------------------------------ pool cards

  function figure(label, field) {
    var dd = el('dd', { 'data-field': field, text: '–' });
    return { row: el('div', null, [el('dt', { text: label }), dd]), value: dd };
  }

  function countTable(caption, header, field) {
    var body = el('tbody', { 'data-field': field });
    var table = el('table', null, [
      el('caption', { text: caption }),
      el('thead', null, [el('tr', null, [el('th', { scope: 'col', text: header }), el('th', { scope: 'col', class: 'num', text: 'Count' })])]),
      body,
    ]);
    return { wrap: el('div', { class: 'table-wrap' }, [table]), body: body };
  }

  function createCard(pool) {
    var id = 'pool-' + ++cardCount + '-' + slug(pool.pool);
    var title = el('h3', { id: id + '-title' }, [document.createTextNode(pool.pool + ' '), el('span', { class: 'pool-kind', text: pool.protocol + ' · ' + pool.poolClass })]);
    var badge = el('span', { class: 'badge', 'data-field': 'health', text: '–' });
    var reason = el('span', { 'data-field': 'health.reason' });
    var head = el('div', { class: 'pool-head' }, [title, el('p', { class: 'health' }, [el('span', { class: 'visually-hidden', text: 'Health: ' }), badge, reason])]);

    var connections = figure('Open connections', 'connections');
    var meter = el('meter', { min: '0', max: '1', value: '0', 'aria-label': 'Open connections of the limit' });
    connections.row.appendChild(meter);
    var figs = {
      connections: connections,
      rps: figure('Requests/s', 'requestsPerSecond'),
      errorRate: figure('Error rate', 'errorRate'),
      inFlight: figure('In flight', 'requests.inFlight'),
      p50: figure('p50', 'latency.p50Ms'),
      p95: figure('p95', 'latency.p95Ms'),
      p99: figure('p99', 'latency.p99Ms'),
      total: figure('Requests', 'requests.total'),
      failed: figure('Failed', 'requests.failed'),
      accepted: figure('Connections accepted', 'totalConnections'),
    };
    var list = el('dl', { class: 'figures' }, Object.keys(figs).map(function (k) { return figs[k].row; }));

    var rateBox = el('div', { class: 'chart', role: 'img', 'aria-label': 'Requests and failed requests per second of pool ' + pool.pool + ', last 5 minutes' });
    var latencyBox = el('div', { class: 'chart', role: 'img', 'aria-label': 'Latency p50, p95 and p99 of pool ' + pool.pool + ', last 5 minutes' });
    var charts = el('div', { class: 'charts' }, [
      el('figure', null, [el('figcaption', { text: 'Requests/s' }), rateBox]),
      el('figure', null, [el('figcaption', { text: 'Latency (p50 / p95 / p99)' }), latencyBox]),
    ]);

    var rejections = countTable('Rejections by reason', 'Reason', 'rejected');
    var timeouts = countTable('Timeouts by kind', 'Kind', 'timeouts');
    var errors = countTable('Errors by type', 'Type', 'errors');
    var tables = el('div', { class: 'tables' }, [rejections.wrap, timeouts.wrap, errors.wrap]);
    var extras = el('div', { class: 'extras' });

    var article = el('article', { class: 'pool', id: id, 'aria-labelledby': id + '-title', 'data-pool': pool.pool, 'data-protocol': pool.protocol }, [head, list, charts, tables, extras]);
    $('pool-list').appendChild(article);
    var card = {
      article: article, badge: badge, reason: reason, meter: meter, figs: figs,
      rateBox: rateBox, latencyBox: latencyBox, rejections: rejections.body, timeouts: timeouts.body, errors: errors.body, extras: extras,
      history: { t: [], rps: [], fps: [], p50: [], p95: [], p99: [] },
      collapsed: new Set(), extrasSignature: null,
    };
    rebuildCharts(card);
    return card;
  }

  /** Fills a count table: every value known in advance (at 0) and every one seen. */
  function fillCounts(body, counts, known) {
    if (unchanged(body, [counts, known])) return;
    var keys = (known || []).slice();
    Object.keys(counts || {}).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
    var rows = keys.map(function (key) {
      var n = (counts && counts[key]) || 0;
      return el('tr', { 'data-key': key, class: n ? '' : 'zero' }, [el('td', { text: key }), el('td', { class: 'num', 'data-value': String(n), text: integer.format(n) })]);
    });
    if (!rows.length) rows = [el('tr', null, [el('td', { colspan: '2', class: 'zero', text: 'none' })])];
    body.replaceChildren.apply(body, rows);
  }

  function definitions(pairs, field) {
    return el('dl', { 'data-field': field }, pairs.map(function (p) {
      return el('div', null, [el('dt', { text: p[0] }), el('dd', { 'data-field': field + '.' + p[2], 'data-value': String(p[3]), text: p[1] })]);
    }));
  }

  // Protocol figures with a renderer of their own; any other object under `metrics` is listed by renderGeneric.
  var EXTRA_RENDERERS = {
    tls: function (tls) {
      var cert = tls.certificate || {};
      var hs = tls.handshakes || { durationMs: {} };
      var days = typeof cert.daysUntilExpiry === 'number' ? cert.daysUntilExpiry : null;
      return [el('h4', { text: 'TLS' }), definitions([
        ['Certificate days left', days === null ? '–' : decimal.format(days), 'daysUntilExpiry', days === null ? '' : days],
        ['Certificate subject', cert.subject || '–', 'subject', cert.subject || ''],
        ['Handshakes', integer.format(hs.completed || 0), 'handshakes', hs.completed || 0],
        ['Failed handshakes', integer.format(hs.failed || 0), 'handshakesFailed', hs.failed || 0],
        ['Handshake p95', ms((hs.durationMs && hs.durationMs.p95Ms) || 0), 'handshakeP95Ms', (hs.durationMs && hs.durationMs.p95Ms) || 0],
      ], 'tls')];
    },
    grpc: function (grpc) {
      var rows = (grpc.methods || []).map(function (m) {
        var codes = Object.keys(m.codes || {}).map(function (c) { return c + ' ' + m.codes[c]; }).join(', ');
        return el('tr', { 'data-method': m.path }, [
          el('th', { scope: 'row', text: m.service + '/' + m.method }),
          el('td', { text: m.type }),
          el('td', { class: 'num', 'data-field': 'calls', 'data-value': String(m.calls), text: integer.format(m.calls) }),
          el('td', { class: 'num', 'data-field': 'errors', 'data-value': String(m.errors), text: integer.format(m.errors) }),
          el('td', { class: 'num', text: ms((m.latency && m.latency.p95Ms) || 0) }),
          el('td', { class: 'codes', text: codes || '–' }),
        ]);
      });
      var table = el('table', { 'data-field': 'grpc.methods' }, [
        el('caption', { text: 'gRPC methods' }),
        el('thead', null, [el('tr', null, ['Method', 'Type', 'Calls', 'Errors', 'p95', 'Status codes'].map(function (h, i) { return el('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : '', text: h }); }))]),
        el('tbody', null, rows),
      ]);
      return [el('div', { class: 'table-wrap' }, [table])];
    },
    websocket: function (ws) {
      var closes = Object.keys(ws.closeCodes || {}).map(function (c) { return c + ': ' + ws.closeCodes[c]; }).join(', ');
      return [el('h4', { text: 'WebSocket' }), definitions([
        ['Messages in', integer.format(ws.messagesIn || 0), 'messagesIn', ws.messagesIn || 0],
        ['Messages out', integer.format(ws.messagesOut || 0), 'messagesOut', ws.messagesOut || 0],
        ['Payload in', bytes(ws.payloadBytesIn || 0), 'payloadBytesIn', ws.payloadBytesIn || 0],
        ['Payload out', bytes(ws.payloadBytesOut || 0), 'payloadBytesOut', ws.payloadBytesOut || 0],
        ['Broadcasts', integer.format(ws.broadcasts || 0), 'broadcasts', ws.broadcasts || 0],
        ['Pong timeouts', integer.format(ws.pongTimeouts || 0), 'pongTimeouts', ws.pongTimeouts || 0],
        ['Slow consumers closed', integer.format(ws.slowConsumersClosed || 0), 'slowConsumersClosed', ws.slowConsumersClosed || 0],
        ['Close codes sent', closes || '–', 'closeCodes', closes],
      ], 'websocket')];
    },
  };

  /** Flattens the numbers and strings of an object into label/value pairs (`a.b.c`). */
  function flatten(value, prefix, out) {
    Object.keys(value).forEach(function (key) {
      var v = value[key];
      var name = prefix ? prefix + '.' + key : key;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, name, out);
      else if (typeof v === 'number') out.push([name, Number.isInteger(v) ? integer.format(v) : decimal.format(v), name, v]);
      else if (typeof v === 'string' || typeof v === 'boolean') out.push([name, String(v), name, v]);
    });
    return out;
  }

  function renderGeneric(name, value, card) {
    var pairs = flatten(value, '', []);
    var details = el('details', card.collapsed.has(name) ? null : { open: '' }, [el('summary', { text: name }), definitions(pairs, name)]);
    details.addEventListener('toggle', function () {
      if (details.open) card.collapsed.delete(name);
      else card.collapsed.add(name);
    });
    return [details];
  }

  function renderExtras(card, metrics) {
    // Rebuilt only when a figure changed, so focus and the reader's place survive idle seconds.
    var extra = {};
    Object.keys(metrics).forEach(function (key) { if (COMMON_KEYS.indexOf(key) < 0) extra[key] = metrics[key]; });
    var signature = JSON.stringify(extra);
    if (card.extrasSignature === signature) return;
    card.extrasSignature = signature;
    var parts = [];
    Object.keys(metrics).forEach(function (key) {
      if (COMMON_KEYS.indexOf(key) >= 0) return;
      var value = metrics[key];
      if (value === null || typeof value !== 'object') return;
      var render = EXTRA_RENDERERS[key];
      var nodes = render ? render(value) : renderGeneric(key, value, card);
      parts.push(el('section', { class: 'extra', 'data-extra': key, 'aria-label': key + ' of pool ' + card.article.getAttribute('data-pool') }, nodes));
    });
    card.extras.replaceChildren.apply(card.extras, parts);
  }

  function updateCard(card, pool, at) {
    var m = pool.metrics;
    var h = pool.health;
    if (card.badge.textContent !== h.status) {
      card.badge.textContent = h.status;
      card.badge.setAttribute('data-status', h.status);
    }
    show(card.reason, h.reason, h.reason);
    var previous = lastHealth.get(pool.pool);
    if (previous && previous !== h.status) announce('Pool ' + pool.pool + ' is ' + h.status + ': ' + h.reason);
    lastHealth.set(pool.pool, h.status);

    var f = card.figs;
    show(f.connections.value, integer.format(m.active) + ' / ' + integer.format(m.maxConnections), m.active);
    f.connections.value.setAttribute('data-limit', String(m.maxConnections));
    card.meter.setAttribute('max', String(Math.max(1, m.maxConnections)));
    card.meter.setAttribute('value', String(m.active));
    var rps = pool.rates.requestsPerSecond;
    show(f.rps.value, rps === null ? '–' : decimal.format(rps), rps);
    show(f.errorRate.value, percent(m.requests.errorRate), m.requests.errorRate);
    show(f.inFlight.value, integer.format(m.requests.inFlight), m.requests.inFlight);
    // Quantiles of an empty window are no figure (the server reports 0): shown as '–', a gap in the chart.
    var measured = m.latency.count > 0;
    var p50 = measured ? m.latency.p50Ms : null;
    var p95 = measured ? m.latency.p95Ms : null;
    var p99 = measured ? m.latency.p99Ms : null;
    show(f.p50.value, measured ? ms(p50) : '–', p50);
    show(f.p95.value, measured ? ms(p95) : '–', p95);
    show(f.p99.value, measured ? ms(p99) : '–', p99);
    show(f.total.value, integer.format(m.requests.total), m.requests.total);
    show(f.failed.value, integer.format(m.requests.failed), m.requests.failed);
    show(f.accepted.value, integer.format(m.totalConnections), m.totalConnections);

    fillCounts(card.rejections, m.rejected.byReason, pool.known && pool.known.rejectReasons);
    fillCounts(card.timeouts, m.timeouts, pool.known && pool.known.timeoutKinds);
    fillCounts(card.errors, m.errors.byType, pool.known && pool.known.errorTypes);
    renderExtras(card, m);

    var hist = card.history;
    push(hist.t, at / 1000);
    push(hist.rps, rps);
    push(hist.fps, pool.rates.failedPerSecond);
    push(hist.p50, p50);
    push(hist.p95, p95);
    push(hist.p99, p99);
    if (card.rateChart) {
      card.rateChart.setData([hist.t, hist.rps, hist.fps]);
      card.latencyChart.setData([hist.t, hist.p50, hist.p95, hist.p99]);
    }
  }

  // ------------------------------------------------------------------ frames

  function renderShutdown(shutdown, state) {
    var list = $('shutdown-phases');
    // Rebuilt only when a phase changed, so a screen reader's place survives idle seconds.
    if (!unchanged(list, shutdown)) {
      var done = new Map(shutdown.done.map(function (d) { return [d.phase, d.durationMs]; }));
      var items = shutdown.phases.map(function (phase) {
        var stateOf = done.has(phase) ? 'done' : shutdown.running === phase ? 'running' : 'pending';
        var text = phase + (done.has(phase) ? ' ' + ms(done.get(phase)) : stateOf === 'running' ? ' (running)' : '');
        return el('li', { 'data-phase': phase, 'data-state': stateOf, text: text });
      });
      list.replaceChildren.apply(list, items);
    }
    var summary;
    if (shutdown.running) summary = 'Shutting down: ' + shutdown.running + ' phase under way.';
    else if (shutdown.done.length === shutdown.phases.length) summary = 'Shut down: every phase done.';
    else if (state === 'stopping') summary = 'Shutting down.';
    else summary = 'Not shutting down.';
    show($('shutdown-summary'), summary, shutdown.running || '');
    if (shutdown.running && shutdown.running !== lastRunningPhase) announce('Shutdown phase ' + shutdown.running + ' under way');
    lastRunningPhase = shutdown.running || null;
  }

  function renderWorkers(workers) {
    // Cluster mode: one row per worker process (a single process sends no `workers`).
    var section = $('workers');
    section.hidden = !workers;
    if (!workers) return;
    var shown = workers.map(function (w) {
      var open = 0, requests = 0;
      (w.pools || []).forEach(function (p) { open += p.metrics.active; requests += p.metrics.requests.total; });
      return [w.id, w.pid, w.state, open, requests];
    });
    // Rebuilt only when a row changed (as the count tables).
    var body = $('worker-rows');
    if (unchanged(body, shown)) return;
    var rows = shown.map(function (w) {
      return el('tr', { 'data-worker': String(w[0]) }, [
        el('th', { scope: 'row', text: String(w[0]) }), el('td', { text: String(w[1]) }), el('td', { text: w[2] }),
        el('td', { class: 'num', text: integer.format(w[3]) }), el('td', { class: 'num', text: integer.format(w[4]) }),
      ]);
    });
    body.replaceChildren.apply(body, rows);
  }

  function render(frame) {
    frames++;
    show($('app-state'), frame.state, frame.state);
    show($('app-ready'), frame.ready ? 'yes' : 'no', frame.ready);
    show($('app-uptime'), duration(frame.uptimeSeconds), frame.uptimeSeconds);
    show($('app-updated'), new Date(frame.at).toLocaleTimeString(), frame.at);
    document.body.setAttribute('data-frames', String(frames));
    $('pools-empty').hidden = frame.pools.length > 0;
    if (!frame.pools.length) $('pools-empty').textContent = 'No pool in this application.';
    var seen = new Set();
    frame.pools.forEach(function (shown) {
      // Cluster primary: a card per worker's pool (the same pool name runs in every worker).
      var pool = shown.worker === undefined ? shown : Object.assign({}, shown, { pool: shown.pool + ' · worker ' + shown.worker });
      seen.add(pool.pool);
      var card = pools.get(pool.pool);
      if (!card) {
        card = createCard(pool);
        pools.set(pool.pool, card);
      }
      updateCard(card, pool, frame.at);
    });
    pools.forEach(function (card, name) {
      if (seen.has(name)) return;
      card.article.remove();
      pools.delete(name);
    });
    renderShutdown(frame.shutdown, frame.state);
    renderWorkers(frame.workers);
  }

  // ------------------------------------------------------------------ the stream

  /** The stream failed: say so (or that the application is down, after an `end`) and try again. */
  function retryLater(message, delay) {
    if (tokenChanged) setConnection('connecting', 'The admin token changed; reconnecting.');
    else if (shutDown) setConnection('ended', 'The application shut down; reconnecting when it is back.');
    else setConnection('error', message);
    scheduleReconnect(delay);
  }

  function scheduleReconnect(delay) {
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  function askForToken(message) {
    var form = $('token-form');
    form.hidden = false;
    $('token-error').textContent = message || '';
    setConnection('error', 'The admin server asks for a token.');
    $('token-input').focus();
  }

  /** Parses `text/event-stream` blocks; returns what is left of an unfinished block. */
  function parseEvents(buffer, onEvent) {
    var cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      var block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
      var event = 'message';
      var data = [];
      block.split(/\r?\n/).forEach(function (line) {
        if (line.indexOf('event:') === 0) event = line.slice(6).trim();
        else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.indexOf('retry:') === 0) {
          var n = parseInt(line.slice(6), 10);
          if (n > 0) retryMs = n;
        }
      });
      if (data.length) onEvent(event, data.join('\n'));
    }
    return buffer;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    var headers = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = 'Bearer ' + token;
    fetch('events', { headers: headers, cache: 'no-store', credentials: 'same-origin' }).then(function (res) {
      if (res.status === 401) {
        askForToken(tokenChanged ? 'The admin token changed; enter the new one.' : token ? 'The server refused this token.' : '');
        tokenChanged = false;
        token = null;
        return;
      }
      if (res.status === 503) {
        var wait = (parseInt(res.headers.get('Retry-After') || '5', 10) || 5) * 1000;
        retryLater('Too many open dashboards on this server; trying again in ' + wait / 1000 + ' s.', wait);
        return;
      }
      if (!res.ok || !res.body) {
        retryLater('The event stream answered ' + res.status + '; trying again.', retryMs);
        return;
      }
      shutDown = false;
      tokenChanged = false;
      $('token-form').hidden = true;
      setConnection('live', 'Live');
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      var renderFailed = false;
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (event, data) {
            if (event === 'end') return ended(data);
            if (event !== 'message') return;
            try {
              render(JSON.parse(data));
            } catch (err) {
              renderFailed = true;
              throw err;
            }
          });
          return pump();
        });
      };
      return pump().then(function () { retryLater('The event stream closed; reconnecting.', retryMs); }, function () {
        // Let go of this stream (the server frees its slot) before opening a fresh one.
        reader.cancel().catch(function () { /* already closed */ });
        retryLater(renderFailed ? 'A frame could not be shown; reconnecting.' : 'The event stream failed; reconnecting.', retryMs);
      });
    }).catch(function () { retryLater('Cannot reach the admin server; reconnecting.', retryMs); });
  }

  /** The server ended the stream: the application shuts down, or the admin token changed (ask again). */
  function ended(data) {
    var reason = '';
    try { reason = JSON.parse(data).reason; } catch { /* no reason given */ }
    if (reason === 'token changed') {
      tokenChanged = true;
      setConnection('connecting', 'The admin token changed; reconnecting.');
      announce('The admin token changed.');
      return;
    }
    shutDown = true;
    setConnection('ended', 'The application shut down; reconnecting when it is back.');
    announce('The application shut down.');
  }

  function start() {
    $('token-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var input = $('token-input');
      token = input.value.trim() || null;
      input.value = '';
      $('token-error').textContent = '';
      setConnection('connecting', 'Connecting to the event stream…');
      connect();
    });
    var resizeTimer = null;
    window.addEventListener('resize', function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { pools.forEach(resizeCharts); }, 100);
    });
    // Chart colours come from the colour scheme: redraw them when it changes.
    if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', function () { pools.forEach(rebuildCharts); });
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
