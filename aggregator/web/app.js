// SPDX-License-Identifier: MIT
//
// gridlet operator dashboard. Reads the aggregator's JSON API (same
// origin, so the access-token cookie travels with every request), renders
// with plain DOM calls (text only: no markup is ever built from data) and
// draws both charts as hand-written SVG. It polls /v1/status every few
// seconds (?refresh=N, default 5) and fetches the heavier parts again only
// when something changed, so an open page costs the server little.
//
// Units as the API gives them: energy in Wh, prices in micro-currency per
// kWh, money in micro-currency, times RFC 3339 UTC. The page shows kWh,
// currency per kWh and currency, and times in UTC (intervals are aligned
// to UTC).
'use strict';

(() => {
  // ---- Settings --------------------------------------------------------

  const params = new URLSearchParams(location.search);
  const REFRESH_S = Math.min(300, Math.max(1, Number(params.get('refresh')) || 5));
  const HISTORY = 96; // intervals in the chart and the table's source
  const TABLE_ROWS = 24; // intervals listed
  const MAX_ROWS = 200; // households and meters listed (filter for more)

  // The server put ?token= into a session cookie when it served this page;
  // take it out of the address bar (and so out of history and bookmarks).
  if (params.has('token')) {
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
  }

  const state = {
    status: null,
    intervals: [], // newest first
    balances: null,
    meters: [],
    ledger: null,
    book: null,
    bookFor: null, // interval start the book belongs to
    lastSettled: undefined,
    selected: '', // '' follows the latest settled interval
    ticks: 0,
    updates: 0,
    currency: 'EUR',
  };

  const $ = (id) => document.getElementById(id);

  // ---- Formatting ------------------------------------------------------

  let moneyFmt, priceFmt;
  const kwhFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 });
  const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const pctFmt = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });

  function setCurrency(code) {
    if (moneyFmt && code === state.currency) return;
    state.currency = code;
    try {
      moneyFmt = new Intl.NumberFormat(undefined, { style: 'currency', currency: code, minimumFractionDigits: 2, maximumFractionDigits: 2 });
      priceFmt = new Intl.NumberFormat(undefined, { style: 'currency', currency: code, minimumFractionDigits: 4, maximumFractionDigits: 4 });
    } catch (e) {
      moneyFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      priceFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 4, maximumFractionDigits: 4 });
    }
    $('currency').textContent = code;
  }
  setCurrency('EUR');

  const fmt = {
    money: (micro) => moneyFmt.format(micro / 1e6),
    price: (micro) => (micro === null || micro === undefined ? '—' : priceFmt.format(micro / 1e6) + '/kWh'),
    priceBare: (micro) => priceFmt.format(micro / 1e6),
    kwh: (wh) => kwhFmt.format(wh / 1000) + ' kWh',
    kwhBare: (wh) => kwhFmt.format(wh / 1000),
    int: (n) => intFmt.format(n),
    pct: (x) => pctFmt.format(x),
  };

  const ms = (iso) => (iso ? Date.parse(iso) : NaN);
  const hhmm = (iso) => new Date(ms(iso)).toISOString().slice(11, 16);
  const ymd = (iso) => new Date(ms(iso)).toISOString().slice(0, 10);
  const dayMonth = (iso) => new Date(ms(iso)).toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  const stamp = (iso) => ymd(iso) + ' ' + hhmm(iso) + ' UTC';
  const span = (iv) => hhmm(iv.start) + '–' + hhmm(iv.end);

  function age(fromIso, toMs) {
    const s = Math.max(0, Math.round((toMs - ms(fromIso)) / 1000));
    if (s < 90) return s + ' s';
    if (s < 90 * 60) return Math.round(s / 60) + ' min';
    if (s < 36 * 3600) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }

  // The share of the community's consumption met by energy traded locally.
  const share = (iv) => (iv.import_wh > 0 ? iv.traded_wh / iv.import_wh : null);

  // ---- DOM helpers -----------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'title') e.title = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // A table cell: text, numeric alignment, and the raw API value in data-v
  // (what the browser test compares with the API).
  function td(text, opts = {}) {
    return el('td', { class: [opts.n ? 'n' : '', opts.cls || ''].join(' ').trim() || null, 'data-v': opts.v, title: opts.title }, text);
  }

  function tag(text, kind) {
    return el('span', { class: 'tag ' + (kind || '') }, text);
  }

  function setPill(id, kind, text) {
    const p = $(id);
    p.className = 'pill ' + kind + (id === 'pill-live' ? ' live' : '');
    p.lastElementChild.textContent = text;
  }

  function setKpi(id, text, unit, raw) {
    const e = $(id);
    e.replaceChildren(text);
    if (unit) e.append(el('span', { class: 'unit' }, unit));
    e.dataset.value = raw === null || raw === undefined ? '' : String(raw);
  }

  // ---- SVG helpers -----------------------------------------------------

  const SVGNS = 'http://www.w3.org/2000/svg';

  function svg(tagName, attrs, parent) {
    const e = document.createElementNS(SVGNS, tagName);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, String(v));
    }
    if (parent) parent.append(e);
    return e;
  }

  // Round tick steps (1, 2, 2.5, 5 x 10^k) for an axis over [lo, hi].
  function ticks(lo, hi, count) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = mag;
    for (const m of [1, 2, 2.5, 5, 10]) {
      step = m * mag;
      if (raw <= step) break;
    }
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
    return { step, values: out, lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step };
  }

  const decimalsFor = (step) => Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9)));

  // ---- API -------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        const j = await r.json();
        if (j && j.error && j.error.message) msg = j.error.message;
      } catch (e) {
        /* not JSON */
      }
      throw new HttpError(r.status, msg);
    }
    return r.json();
  }

  // ---- Header and key figures ------------------------------------------

  function renderStatus() {
    const st = state.status;
    document.title = 'gridlet · ' + st.community + ' · operator dashboard';
    $('community').textContent = st.community;
    $('subtitle').textContent =
      'Operator dashboard · ' + st.mode + ' market, ' + st.rule + ' rule · ' + Math.round(st.interval_s / 60) + '-minute intervals';
    $('version').textContent = 'gridlet-aggregator ' + st.version + '.';
    setPill('pill-broker', st.mqtt_connected ? 'ok' : 'bad', st.mqtt_connected ? 'Broker connected' : 'Broker disconnected');
    const m = st.meters;
    const mk = m.active === 0 ? 'warn' : m.online === m.active ? 'ok' : m.online === 0 ? 'bad' : 'warn';
    setPill('pill-meters', mk, m.online + ' of ' + m.active + ' meters online');

    // The interval in progress, and the one waiting for its readings.
    const L = st.interval_s * 1000;
    const now = ms(st.now);
    const cur = Math.floor(now / L) * L;
    const iso = (t) => new Date(t).toISOString().replace('.000Z', 'Z');
    setKpi('v-current', hhmm(iso(cur)) + '–' + hhmm(iso(cur + L)), null, iso(cur));
    const waiting = (st.open_intervals || []).filter((o) => ms(o.start) < cur);
    let sub = 'Now ' + hhmm(st.now) + ' UTC';
    if (waiting.length) {
      const w = waiting[waiting.length - 1];
      sub = 'Readings for ' + hhmm(w.start) + ': ' + w.readings + ' of ' + m.active + ' in';
    } else if (st.last_settled) {
      sub += ' · last settled ' + hhmm(st.last_settled);
    }
    $('s-current').textContent = sub;

    const reasons = $('reasons');
    const by = Object.entries(st.rejected.by_reason).sort((a, b) => b[1] - a[1]);
    reasons.replaceChildren(
      ...(by.length
        ? by.map(([r, n]) => el('li', { 'data-reason': r, 'data-v': n }, tag(r + ' × ' + fmt.int(n), 'warn')))
        : [el('li', {}, tag('none', 'ok'))]),
    );
  }

  function renderKpis() {
    const iv = state.intervals[0];
    if (!iv) {
      setKpi('v-price', '—', null, null);
      setKpi('v-volume', '—', null, null);
      setKpi('v-share', '—', null, null);
      $('s-price').textContent = 'No interval settled yet';
      return;
    }
    if (iv.price === null) setKpi('v-price', 'no trade', null, null);
    else setKpi('v-price', fmt.priceBare(iv.price), '/kWh', iv.price);
    $('s-price').textContent =
      'Interval ' + span(iv) + ' UTC · tariffs ' + fmt.priceBare(iv.tariff.feed_in) + ' – ' + fmt.priceBare(iv.tariff.retail);
    setKpi('v-volume', fmt.kwhBare(iv.traded_wh), 'kWh', iv.traded_wh);
    $('s-volume').textContent = 'of ' + fmt.kwh(iv.import_wh) + ' consumed · ' + fmt.kwh(iv.grid_import_wh) + ' from the grid';
    const sh = share(iv);
    setKpi('v-share', sh === null ? '—' : fmt.pct(sh), null, sh);
    $('bar-share').style.width = sh === null ? '0' : Math.min(100, sh * 100).toFixed(1) + '%';
    const delivered = iv.meters - iv.missing;
    $('s-share').textContent = delivered + ' of ' + iv.meters + ' meters delivered a reading';
  }

  // ---- Price and volume chart ------------------------------------------

  function renderChart() {
    const host = $('chart');
    const data = state.intervals.slice().reverse(); // oldest first
    const W = 1200, H = 300, ml = 78, mr = 72, mt = 14, mb = 44;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc' });
    svg('title', { id: 'chart-title', text: 'Clearing price and energy traded locally per interval' }, root);
    const desc = svg('desc', { id: 'chart-desc' }, root);
    if (!data.length) {
      svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No interval settled yet' }, root);
      desc.textContent = 'No data yet.';
      host.replaceChildren(root);
      return;
    }
    const last = data[data.length - 1];
    desc.textContent =
      data.length + ' intervals from ' + stamp(data[0].start) + ' to ' + stamp(last.start) + '. Latest clearing price ' + fmt.price(last.price) + ', ' + fmt.kwh(last.traded_wh) + ' traded locally. The table below lists the figures.';

    const pw = W - ml - mr, ph = H - mt - mb;
    const slot = pw / data.length;
    // Price axis: the tariff band and every clearing price.
    let plo = Infinity, phi = -Infinity;
    for (const d of data) {
      plo = Math.min(plo, d.tariff.feed_in, d.price ?? Infinity);
      phi = Math.max(phi, d.tariff.retail, d.price ?? -Infinity);
    }
    const pt = ticks(plo / 1e6, phi / 1e6, 5);
    const py = (micro) => mt + ph - ((micro / 1e6 - pt.lo) / (pt.hi - pt.lo)) * ph;
    const vmax = Math.max(...data.map((d) => d.traded_wh), 1);
    const vt = ticks(0, vmax / 1000, 5);
    const vy = (wh) => mt + ph - (wh / 1000 / vt.hi) * ph;

    const grid = svg('g', {}, root);
    const pdec = decimalsFor(pt.step);
    for (const v of pt.values) {
      const y = py(v * 1e6);
      svg('line', { x1: ml, x2: W - mr, y1: y, y2: y, class: 'gridline' }, grid);
      svg('text', { x: ml - 8, y: y + 4, 'text-anchor': 'end', text: v.toFixed(pdec) }, grid);
    }
    const vdec = decimalsFor(vt.step);
    for (const v of vt.values) {
      svg('text', { x: W - mr + 8, y: vy(v * 1000) + 4, text: v.toFixed(vdec) }, grid);
    }
    svg('text', { x: 14, y: mt + ph / 2, transform: `rotate(-90 14 ${mt + ph / 2})`, 'text-anchor': 'middle', class: 'axis-title', text: 'Price (' + state.currency + '/kWh)' }, grid);
    svg('text', { x: W - 12, y: mt + ph / 2, transform: `rotate(90 ${W - 12} ${mt + ph / 2})`, 'text-anchor': 'middle', class: 'axis-title', text: 'Traded locally (kWh)' }, grid);
    svg('line', { x1: ml, x2: W - mr, y1: mt + ph, y2: mt + ph, class: 'axis' }, grid);

    // Bars: energy traded locally.
    const bars = svg('g', {}, root);
    const bw = Math.max(1, slot * 0.68);
    const sel = state.selected || (state.intervals[0] && state.intervals[0].start);
    data.forEach((d, i) => {
      const x = ml + i * slot + (slot - bw) / 2;
      const y = vy(d.traded_wh);
      svg('rect', { x, y, width: bw, height: Math.max(0, mt + ph - y), class: 'bar' + (d.start === sel ? ' selected' : '') }, bars);
    });

    // The tariff band as steps (a tariff can change between intervals).
    const band = svg('g', {}, root);
    for (const key of ['retail', 'feed_in']) {
      let dpath = '';
      data.forEach((d, i) => {
        const y = py(d.tariff[key]).toFixed(1);
        dpath += (i ? 'L' : 'M') + (ml + i * slot).toFixed(1) + ',' + y + 'L' + (ml + (i + 1) * slot).toFixed(1) + ',' + y;
      });
      svg('path', { d: dpath, class: 'band-line', fill: 'none' }, band);
      svg('text', { x: W - mr - 4, y: py(last.tariff[key]) + (key === 'retail' ? -6 : 14), 'text-anchor': 'end', class: 'band-label', text: key === 'retail' ? 'retail' : 'feed-in' }, band);
    }

    // The price line, broken where no energy traded locally.
    let dpath = '';
    let pen = false;
    const line = svg('g', {}, root);
    data.forEach((d, i) => {
      if (d.price === null) {
        pen = false;
        return;
      }
      const x = (ml + (i + 0.5) * slot).toFixed(1);
      dpath += (pen ? 'L' : 'M') + x + ',' + py(d.price).toFixed(1);
      pen = true;
    });
    svg('path', { d: dpath, class: 'price-line' }, line);
    if (data.length <= 60)
      data.forEach((d, i) => {
        if (d.price !== null) svg('circle', { cx: ml + (i + 0.5) * slot, cy: py(d.price), r: 3.2, class: 'price-dot' }, line);
      });

    // Time labels, at least ~70 px apart; the date where the day changes.
    const stride = Math.max(1, Math.ceil(70 / slot));
    const labels = svg('g', {}, root);
    data.forEach((d, i) => {
      if (i % stride) return;
      const x = ml + (i + 0.5) * slot;
      svg('text', { x, y: H - mb + 18, 'text-anchor': 'middle', text: hhmm(d.start) }, labels);
      if (i === 0 || ymd(d.start) !== ymd(data[i - stride].start))
        svg('text', { x, y: H - mb + 34, 'text-anchor': 'middle', text: dayMonth(d.start) }, labels);
    });

    // Hover targets with a tooltip; a click opens the interval's book.
    const hits = svg('g', {}, root);
    data.forEach((d, i) => {
      const r = svg('rect', { x: ml + i * slot, y: mt, width: slot, height: ph, fill: 'transparent', 'data-start': d.start }, hits);
      svg('title', { text: span(d) + ' UTC · ' + fmt.price(d.price) + ' · ' + fmt.kwh(d.traded_wh) + ' traded locally' }, r);
      r.addEventListener('click', () => selectInterval(d.start));
      r.style.cursor = 'pointer';
    });
    host.replaceChildren(root);
  }

  // ---- Intervals table -------------------------------------------------

  function renderIntervals() {
    const tbody = $('t-intervals').tBodies[0];
    const sel = state.selected || (state.intervals[0] && state.intervals[0].start);
    const rows = state.intervals.slice(0, TABLE_ROWS).map((iv) => {
      const sh = share(iv);
      const btn = el('button', { type: 'button', class: 'rowlink', 'aria-label': 'Show the order book of ' + span(iv) }, span(iv));
      btn.addEventListener('click', () => selectInterval(iv.start));
      const stKind = iv.state === 'published' ? 'ok' : 'warn';
      const tr = el(
        'tr',
        { 'data-start': iv.start, class: iv.start === sel ? 'selected' : null, 'aria-current': iv.start === sel ? 'true' : null },
        el('td', { title: stamp(iv.start) }, btn, el('span', { class: 'muted' }, ' ' + dayMonth(iv.start))),
        el('td', {}, tag(iv.state, stKind)),
        td(fmt.price(iv.price), { n: true, v: iv.price === null ? '' : iv.price }),
        td(fmt.kwh(iv.traded_wh), { n: true, v: iv.traded_wh }),
        td(sh === null ? '—' : fmt.pct(sh), { n: true, v: sh === null ? '' : sh.toFixed(6) }),
        td(fmt.kwh(iv.import_wh), { n: true, v: iv.import_wh }),
        td(fmt.kwh(iv.grid_import_wh), { n: true, v: iv.grid_import_wh }),
        td(fmt.kwh(iv.grid_export_wh), { n: true, v: iv.grid_export_wh }),
        td(iv.meters - iv.missing + ' / ' + iv.meters, { n: true, v: iv.missing, cls: iv.missing ? 'neg' : '' }),
      );
      return tr;
    });
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'No interval settled yet.')));
    tbody.replaceChildren(...rows);

    const select = $('book-interval');
    const opts = [el('option', { value: '' }, 'Latest settled')];
    for (const iv of state.intervals.slice(0, HISTORY)) opts.push(el('option', { value: iv.start }, ymd(iv.start) + ' ' + span(iv) + ' UTC'));
    select.replaceChildren(...opts);
    select.value = state.selected;
  }

  function selectInterval(start) {
    state.selected = start === (state.intervals[0] && state.intervals[0].start) ? '' : start;
    $('book-interval').value = state.selected;
    renderChart();
    renderIntervals();
    loadBook().then(renderBook, showError);
  }

  // ---- Order book ------------------------------------------------------

  async function loadBook() {
    const start = state.selected || (state.intervals[0] && state.intervals[0].start);
    if (!start) {
      state.book = null;
      state.bookFor = null;
      return;
    }
    state.book = await api('v1/intervals/' + encodeURIComponent(start) + '/orders');
    state.bookFor = start;
  }

  // Cumulative step curve of one side: [[kWh from, kWh to, price], ...].
  function steps(orders) {
    let q = 0;
    return orders.map((o) => {
      const s = [q, q + o.wh, o.price];
      q += o.wh;
      return s;
    });
  }

  function renderBook() {
    const host = $('book-chart');
    const b = state.book;
    const W = 720, H = 380, ml = 78, mr = 20, mt = 16, mb = 48;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'book-title book-desc' });
    svg('title', { id: 'book-title', text: 'Bid and offer curves' }, root);
    const desc = svg('desc', { id: 'book-desc' }, root);
    const fill = (id, orders) =>
      $(id).tBodies[0].replaceChildren(
        ...(orders.length
          ? orders.map((o) =>
              el('tr', { 'data-meter': o.meter }, td(o.meter), td(fmt.kwh(o.wh), { n: true, v: o.wh }), td(fmt.price(o.price), { n: true, v: o.price, title: o.limit === null ? 'no limit given: any price in the band' : 'asked ' + fmt.price(o.limit) })),
            )
          : [el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'none'))]),
      );
    if (!b) {
      svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No interval settled yet' }, root);
      host.replaceChildren(root);
      fill('t-bids', []);
      fill('t-offers', []);
      return;
    }
    root.dataset.interval = b.interval;
    fill('t-bids', b.bids);
    fill('t-offers', b.offers);
    const bids = steps(b.bids), offers = steps(b.offers);
    const qmax = Math.max(bids.length ? bids[bids.length - 1][1] : 0, offers.length ? offers[offers.length - 1][1] : 0, 1);
    const pw = W - ml - mr, ph = H - mt - mb;
    const xt = ticks(0, (qmax / 1000) * 1.04, 6);
    const yt = ticks(b.band.feed_in / 1e6, b.band.retail / 1e6, 6);
    const x = (wh) => ml + (wh / 1000 / xt.hi) * pw;
    const y = (micro) => mt + ph - ((micro / 1e6 - yt.lo) / (yt.hi - yt.lo)) * ph;
    const g = svg('g', {}, root);
    const ydec = decimalsFor(yt.step), xdec = decimalsFor(xt.step);
    for (const v of yt.values) {
      svg('line', { x1: ml, x2: W - mr, y1: y(v * 1e6), y2: y(v * 1e6), class: 'gridline' }, g);
      svg('text', { x: ml - 8, y: y(v * 1e6) + 4, 'text-anchor': 'end', text: v.toFixed(ydec) }, g);
    }
    for (const v of xt.values) svg('text', { x: x(v * 1000), y: H - mb + 18, 'text-anchor': 'middle', text: v.toFixed(xdec) }, g);
    svg('line', { x1: ml, x2: W - mr, y1: mt + ph, y2: mt + ph, class: 'axis' }, g);
    svg('line', { x1: ml, x2: ml, y1: mt, y2: mt + ph, class: 'axis' }, g);
    svg('text', { x: ml + pw / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis-title', text: 'Energy, cumulative (kWh)' }, g);
    svg('text', { x: 14, y: mt + ph / 2, transform: `rotate(-90 14 ${mt + ph / 2})`, 'text-anchor': 'middle', class: 'axis-title', text: 'Price (' + state.currency + '/kWh)' }, g);
    for (const [k, label] of [['retail', 'retail'], ['feed_in', 'feed-in']]) {
      svg('line', { x1: ml, x2: W - mr, y1: y(b.band[k]), y2: y(b.band[k]), class: 'band-line' }, g);
      svg('text', { x: W - mr - 4, y: y(b.band[k]) + (k === 'retail' ? -6 : 14), 'text-anchor': 'end', class: 'band-label', text: label }, g);
    }
    const curve = (st, cls) => {
      if (!st.length) return;
      let d = 'M' + x(0).toFixed(1) + ',' + y(st[0][2]).toFixed(1);
      for (const [q0, q1, p] of st) d += 'V' + y(p).toFixed(1) + 'H' + x(q1).toFixed(1);
      svg('path', { d, class: cls }, root);
    };
    curve(bids, 'demand');
    curve(offers, 'supply');
    if (b.price !== null && b.traded_wh > 0) {
      const cx = x(b.traded_wh), cy = y(b.price);
      svg('line', { x1: ml, x2: cx, y1: cy, y2: cy, class: 'clear-line' }, root);
      svg('line', { x1: cx, x2: cx, y1: cy, y2: mt + ph, class: 'clear-line' }, root);
      svg('circle', { cx, cy, r: 5, class: 'clear-dot' }, root);
      const right = cx < ml + pw * 0.6;
      svg('text', { x: cx + (right ? 10 : -10), y: cy - 10, 'text-anchor': right ? 'start' : 'end', class: 'clear-label', text: fmt.price(b.price) + ' · ' + fmt.kwh(b.traded_wh) }, root);
    }
    if (!bids.length && !offers.length)
      svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No bids or offers in this interval' }, root);
    desc.textContent =
      'Interval ' + stamp(b.interval) + ': ' + b.bids.length + ' bids for ' + fmt.kwh(bids.length ? bids[bids.length - 1][1] : 0) + ', ' + b.offers.length + ' offers of ' + fmt.kwh(offers.length ? offers[offers.length - 1][1] : 0) + '; ' + (b.price === null ? 'no local trade' : 'cleared at ' + fmt.price(b.price) + ' for ' + fmt.kwh(b.traded_wh)) + '.';
    host.replaceChildren(root);
    const notes = {
      expost: 'Ex post: each household\'s measured net energy at its standing limit (none: any price within the tariffs). Prices are clamped into the tariff band.',
      exante: 'Ex ante: each household\'s latest order before gate closure, every step. Prices are clamped into the tariff band.',
      continuous: 'Continuous: each household\'s latest order; trades happened one by one as orders arrived, so the curves explain the prices rather than one clearing.',
    };
    $('book-note').textContent = (notes[b.mode] || '') + ' ' + ymd(b.interval) + ' ' + hhmm(b.interval) + '–' + hhmm(b.end) + ' UTC, ' + b.rule + ' rule.';
  }

  // ---- Households ------------------------------------------------------

  function renderHouseholds() {
    const b = state.balances;
    if (!b) return;
    const f = $('households-filter').value.trim().toLowerCase();
    const list = b.balances.filter((x) => !f || x.meter.includes(f));
    const rows = list.slice(0, MAX_ROWS).map((x) =>
      el(
        'tr',
        { 'data-meter': x.meter },
        el('th', { scope: 'row' }, x.meter),
        td(fmt.money(x.money), { n: true, v: x.money, cls: x.money > 0 ? 'pos' : x.money < 0 ? 'neg' : '' }),
        td(fmt.kwh(x.local_bought_wh), { n: true, v: x.local_bought_wh }),
        td(fmt.kwh(x.local_sold_wh), { n: true, v: x.local_sold_wh }),
        td(fmt.kwh(x.grid_import_wh), { n: true, v: x.grid_import_wh }),
        td(fmt.kwh(x.grid_export_wh), { n: true, v: x.grid_export_wh }),
        td(fmt.money(x.fees), { n: true, v: x.fees }),
        td(fmt.int(x.intervals) + (x.missing_readings ? ' (' + x.missing_readings + ' missing)' : ''), { n: true, v: x.intervals, cls: x.missing_readings ? 'neg' : '' }),
      ),
    );
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, f ? 'No household matches.' : 'No household settled yet.')));
    $('t-households').tBodies[0].replaceChildren(...rows);
    $('households-more').textContent = list.length > MAX_ROWS ? 'Showing ' + MAX_ROWS + ' of ' + fmt.int(list.length) + ': type to narrow.' : '';
    $('households-total').textContent =
      fmt.int(b.balances.length) + ' households · balances ' + fmt.money(b.totals.households_money) + ' · fees ' + fmt.money(b.totals.fees);
  }

  // ---- Meter health ----------------------------------------------------

  // What needs attention, worst first: [severity (2 bad, 1 warn), reason].
  function health(m, st) {
    const out = [];
    if (m.state === 'revoked') return { sev: 0, why: ['revoked'] };
    const s = m.status.state;
    if (s === 'offline') out.push([2, 'offline']);
    else if (s !== 'online') out.push([1, 'no status yet']);
    if (st.last_settled && (!m.last_reading || ms(m.last_reading) < ms(st.last_settled))) out.push([1, 'missed the last interval']);
    if (m.status.outbox > 0) out.push([m.status.outbox > 4 ? 2 : 1, m.status.outbox + ' waiting to send']);
    const day = 86400 * 1000;
    if (m.rejections.count && ms(st.now) - ms(m.rejections.last_at) < day) out.push([1, 'refused: ' + m.rejections.last_reason]);
    if (ms(m.not_after) - Date.now() < 30 * day) out.push([1, 'certificate expires ' + ymd(m.not_after)]);
    return { sev: out.reduce((a, [v]) => Math.max(a, v), 0), why: out.map(([, w]) => w) };
  }

  function renderMeters() {
    const st = state.status;
    if (!st) return;
    const f = $('meters-filter').value.trim().toLowerCase();
    const only = $('meters-problems').checked;
    const now = ms(st.now);
    const all = state.meters.map((m) => ({ m, h: health(m, st) }));
    const needing = all.filter((x) => x.h.sev > 0).length;
    const list = all.filter((x) => (!f || x.m.id.includes(f)) && (!only || x.h.sev > 0)).sort((a, b) => b.h.sev - a.h.sev || (a.m.id < b.m.id ? -1 : 1));
    const rows = list.slice(0, MAX_ROWS).map(({ m, h }) => {
      const s = m.state === 'revoked' ? 'revoked' : m.status.state;
      const kind = s === 'online' ? 'ok' : s === 'offline' ? 'bad' : 'warn';
      const lr = m.last_reading ? hhmm(m.last_reading) + ' ' + dayMonth(m.last_reading) : 'never';
      const rj = m.rejections;
      return el(
        'tr',
        { 'data-meter': m.id, class: h.sev ? 'problem' + (h.sev > 1 ? ' bad' : '') : null, title: h.why.join('; ') || null },
        el('th', { scope: 'row' }, m.id),
        el('td', { 'data-v': s }, el('span', { class: 'dot ' + kind, 'aria-hidden': 'true' }), ' ', s, h.why.length && s !== 'revoked' ? el('span', { class: 'muted' }, ' · ' + h.why.join('; ')) : null),
        td(lr, { v: m.last_reading || '' }),
        td(m.last_seen ? age(m.last_seen, now) + ' ago' : 'never', { v: m.last_seen || '' }),
        td(m.status.outbox === undefined ? '—' : fmt.int(m.status.outbox), { n: true, v: m.status.outbox ?? '', cls: m.status.outbox > 0 ? 'neg' : '' }),
        td(rj.count ? fmt.int(rj.count) + ' (' + rj.last_reason + ')' : '0', { n: true, v: rj.count, cls: rj.count ? 'neg' : '', title: rj.count ? 'newest ' + stamp(rj.last_at) : null }),
        td(m.status.version || '—'),
      );
    });
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, only ? 'Every meter is fine.' : 'No meter matches.')));
    $('t-meters').tBodies[0].replaceChildren(...rows);
    $('meters-more').textContent = list.length > MAX_ROWS ? 'Showing ' + MAX_ROWS + ' of ' + fmt.int(list.length) + ': type to narrow.' : '';
    const waitingTotal = state.meters.reduce((a, m) => a + (m.status.outbox > 0 ? m.status.outbox : 0), 0);
    $('meters-summary').textContent =
      fmt.int(state.meters.length) + ' enrolled · ' + st.meters.online + ' online · ' + needing + ' need attention · ' + fmt.int(waitingTotal) + ' messages in meter outboxes';
  }

  // ---- Ledger ----------------------------------------------------------

  function renderLedger() {
    const l = state.ledger;
    if (!l) return;
    $('ledger-origin').textContent = l.origin;
    $('l-size').textContent = fmt.int(l.size) + ' entries';
    $('l-size').dataset.value = l.size;
    const cp = l.checkpoint;
    if (cp) {
      $('l-checkpoint').textContent = 'size ' + fmt.int(cp.size) + (cp.cosigned_by.length ? ' · cosigned by ' + cp.cosigned_by.join(', ') : ' · no cosignature yet');
      $('l-checkpoint').dataset.value = cp.size;
      $('l-signed').textContent = cp.signed_at ? stamp(cp.signed_at) : '—';
      $('l-root').textContent = cp.root.slice(0, 16) + '…';
      $('l-root').title = cp.root;
    } else {
      $('l-checkpoint').textContent = 'none signed yet';
    }
    const a = l.audit;
    const kinds = { ok: 'ok', failed: 'bad', error: 'bad', running: 'warn', pending: 'warn', off: '' };
    const words = { ok: 'OK', failed: 'FAILED', error: 'could not run', running: 'running', pending: 'pending', off: 'off' };
    $('l-audit').replaceChildren(tag(words[a.state] || a.state, kinds[a.state]));
    $('l-audit').dataset.value = a.state;
    setPill('pill-audit', kinds[a.state] || 'warn', 'Ledger audit ' + (words[a.state] || a.state));
    let detail = '—';
    if (a.runs) {
      detail =
        fmt.int(a.entries) + ' entries, ' + fmt.int(a.checkpoints) + ' checkpoints, ' + fmt.int(a.cosignatures) + ' cosignatures verified; ' + fmt.int(a.balances) + ' balances equal the ledger\'s · ' +
        (a.duration_ms / 1000).toFixed(1) + ' s, ' + age(a.started, Date.now()) + ' ago';
      if (a.running) detail += ' · running again now';
      if (a.key_from_db) detail += ' · checked with the key the database records';
    } else if (a.state === 'off') {
      detail = 'switched off (http.audit_every = 0)';
    }
    $('l-audit-detail').textContent = detail;
    const p = $('l-problem');
    p.hidden = !a.problem;
    p.textContent = a.problem ? 'Audit problem' + (a.bad_entry !== undefined ? ' at entry ' + a.bad_entry : '') + ': ' + a.problem : '';
    const rows = l.witnesses.map((w) =>
      el(
        'tr',
        { 'data-witness': w.name },
        el('th', { scope: 'row' }, w.name, w.configured ? '' : el('span', { class: 'muted' }, ' (not configured)')),
        td(w.key_id, { cls: 'mono' }),
        td(w.size === null ? 'never' : fmt.int(w.size), { n: true, v: w.size ?? '' }),
        td(w.size === null ? '—' : fmt.int(w.behind), { n: true, v: w.behind ?? '', cls: w.behind > 0 ? 'muted' : '' }),
        td(w.time ? stamp(w.time) : '—', { v: w.time || '' }),
      ),
    );
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No witness has cosigned a checkpoint yet (see docs/ledger.md, witnesses).')));
    $('t-witnesses').tBodies[0].replaceChildren(...rows);
    $('l-vkey').textContent = l.vkey || '—';
  }

  // ---- The loop --------------------------------------------------------

  function showError(e) {
    const b = $('banner');
    if (e instanceof HttpError && e.status === 401) b.textContent = 'Access token needed: open this page as /?token=<token> (http.token_file).';
    else b.textContent = 'Cannot reach the aggregator (' + (e && e.message ? e.message : e) + '); retrying every ' + REFRESH_S + ' s. The figures below may be stale.';
    b.hidden = false;
    setPill('pill-live', 'bad', 'Disconnected');
  }

  async function tick() {
    try {
      const st = await api('v1/status');
      state.status = st;
      setCurrency(st.currency || 'EUR');
      const settled = st.last_settled || null;
      const changed = settled !== state.lastSettled;
      // Intervals and balances change only when an interval settles; a
      // slow refresh catches states moving from signed to published.
      const jobs = [api('v1/meters').then((j) => (state.meters = j.meters)), api('v1/ledger').then((j) => (state.ledger = j))];
      if (changed || state.ticks % 6 === 0) {
        jobs.push(api('v1/intervals?limit=' + HISTORY).then((j) => (state.intervals = j.intervals)));
        jobs.push(api('v1/balances').then((j) => (state.balances = j)));
      }
      await Promise.all(jobs);
      const want = state.selected || (state.intervals[0] && state.intervals[0].start) || null;
      if (want !== state.bookFor || changed) await loadBook();
      state.lastSettled = settled;
      renderStatus();
      renderKpis();
      renderChart();
      renderIntervals();
      renderBook();
      renderHouseholds();
      renderMeters();
      renderLedger();
      $('banner').hidden = true;
      state.updates++;
      document.body.dataset.updates = String(state.updates);
      document.body.dataset.lastSettled = settled || '';
      setPill('pill-live', 'ok', 'Live · updated ' + new Date().toLocaleTimeString() + ' · every ' + REFRESH_S + ' s');
    } catch (e) {
      showError(e);
    }
    state.ticks++;
    setTimeout(tick, REFRESH_S * 1000);
  }

  $('book-interval').addEventListener('change', (e) => selectInterval(e.target.value || (state.intervals[0] && state.intervals[0].start)));
  $('households-filter').addEventListener('input', renderHouseholds);
  $('meters-filter').addEventListener('input', renderMeters);
  $('meters-problems').addEventListener('change', renderMeters);
  tick();
})();
