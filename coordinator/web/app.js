// The Jobs page (compiled into the binary): polls /api/jobs every 2 s and
// shows the job list or one job. All data goes through textContent; no
// markup is ever built from data. The API token is asked once and kept in
// sessionStorage.
'use strict';
(function () {
  var POLL_MS = 2000;
  var TOKEN_KEY = 'vecmig.apiToken';
  var $ = function (id) { return document.getElementById(id); };

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function askToken() {
    var t = window.prompt('vecmig API token (kept for this browser tab only)', '');
    if (t !== null) sessionStorage.setItem(TOKEN_KEY, t.trim());
    return t !== null;
  }

  function api(method, path) {
    var h = {};
    if (token()) h.Authorization = 'Bearer ' + token();
    return fetch(path, { method: method, headers: h, cache: 'no-store' }).then(function (r) {
      return r.text().then(function (txt) {
        var body = null;
        try { body = txt ? JSON.parse(txt) : null; } catch (e) { body = { error: txt }; }
        return { status: r.status, body: body };
      });
    });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function num(n) { return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US'); }
  function dur(s) {
    if (s === null || s === undefined) return '-';
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + x + 's';
  }
  function pct(p) { return p === null || p === undefined ? '' : (100 * p).toFixed(1) + '%'; }
  function bar(p, big) {
    var b = el('div', null, big ? 'bar big' : 'bar'), f = el('div');
    f.style.width = (p ? Math.min(100, 100 * p) : 0) + '%';
    b.appendChild(f);
    b.title = pct(p);
    return b;
  }
  function stateBadge(s) { return el('span', s, 'state ' + s); }
  function status(msg) { $('status').textContent = msg || ''; }
  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function facts(dl, pairs) {
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    pairs.forEach(function (p) { dl.appendChild(el('dt', p[0])); dl.appendChild(el('dd', p[1])); });
  }

  function authFailed(r) {
    if (r.status !== 401) return false;
    status('API token needed (401): use the "API token" button');
    return true;
  }

  // ---- list ----
  function showList() {
    return api('GET', '/api/jobs').then(function (r) {
      if (authFailed(r)) return;
      if (r.status !== 200) { status('GET /api/jobs: ' + r.status + ' ' + ((r.body && r.body.error) || '')); return; }
      status('');
      var rows = r.body.jobs.map(function (j) {
        var tr = el('tr', null, 'click');
        tr.dataset.job = j.id;
        var a = el('a', j.id);
        a.href = '/jobs/' + encodeURIComponent(j.id);
        var td = el('td'); td.appendChild(a); tr.appendChild(td);
        td = el('td'); td.appendChild(stateBadge(j.state)); tr.appendChild(td);
        td = el('td'); td.appendChild(bar(j.progress)); td.appendChild(el('span', pct(j.progress), 'muted')); tr.appendChild(td);
        tr.appendChild(el('td', num(j.rows_written) + ' / ' + num(j.rows_total), 'num rows'));
        tr.appendChild(el('td', num(Math.round(j.rows_per_second)), 'num'));
        tr.appendChild(el('td', dur(j.eta_seconds), 'num'));
        tr.appendChild(el('td', j.tasks.done + '/' + j.tasks.total + ' done' +
          (j.tasks.running ? ', ' + j.tasks.running + ' running' : '') +
          (j.tasks.failed ? ', ' + j.tasks.failed + ' failed' : '')));
        tr.appendChild(el('td', num(j.errors), j.errors ? 'num err' : 'num'));
        tr.addEventListener('click', function (ev) {
          if (ev.target.tagName !== 'A') { ev.preventDefault(); go('/jobs/' + encodeURIComponent(j.id)); }
        });
        a.addEventListener('click', function (ev) { ev.preventDefault(); go(a.getAttribute('href')); });
        return tr;
      });
      fill($('jobs').tBodies[0], rows);
      $('no-jobs').hidden = rows.length > 0;
    });
  }

  // ---- one job ----
  var reportShown = null;
  function showJob(id) {
    var base = '/api/jobs/' + encodeURIComponent(id);
    return api('GET', base).then(function (r) {
      if (authFailed(r)) return;
      if (r.status !== 200) { status((r.body && r.body.error) || ('HTTP ' + r.status)); return; }
      status('');
      var j = r.body;
      $('job-id').textContent = j.id;
      $('job-state').textContent = j.state;
      $('job-state').className = 'state ' + j.state;
      $('job-bar').style.width = (j.progress ? Math.min(100, 100 * j.progress) : 0) + '%';
      facts($('job-facts'), [
        ['Source', (j.source.type || '') + ' ' + (j.source.collection || '')],
        ['Target', (j.target.type || '') + ' ' + (j.target.collection || '')],
        ['Rows written', num(j.rows_written) + ' of ' + num(j.rows_total) + ' (' + pct(j.progress) + ')'],
        ['Rows/s', num(Math.round(j.rows_per_second))],
        ['ETA', dur(j.eta_seconds)],
        ['Tasks', j.tasks.done + ' done, ' + j.tasks.running + ' running, ' + j.tasks.pending +
          ' pending, ' + j.tasks.failed + ' failed (of ' + j.tasks.total + ')'],
        ['Errors', num(j.errors)],
        ['Cancel requested', j.cancel_requested ? 'yes' : 'no'],
        ['Created', j.created_at || '-'],
        ['Updated', j.updated_at || '-']
      ]);
      var over = j.state === 'done' || j.state === 'failed' || j.state === 'cancelled';
      $('cancel-btn').disabled = over || j.cancel_requested;
      $('resume-btn').disabled = !(j.state === 'cancelled' || j.state === 'failed' || j.cancel_requested);
      return api('GET', base + '/tasks').then(function (t) {
        if (t.status !== 200) return;
        fill($('tasks').tBodies[0], t.body.tasks.map(function (k) {
          var tr = el('tr');
          tr.appendChild(el('td', k.id, 'num'));
          var td = el('td'); td.appendChild(stateBadge(k.state)); tr.appendChild(td);
          tr.appendChild(el('td', k.range));
          tr.appendChild(el('td', num(k.rows_written), 'num'));
          tr.appendChild(el('td', k.attempts, 'num'));
          tr.appendChild(el('td', k.owner || ''));
          tr.appendChild(el('td', k.error || '', 'err'));
          return tr;
        }));
        if (!over) { $('report-view').hidden = true; reportShown = null; return; }
        if (reportShown === j.updated_at) return;
        return api('GET', base + '/report').then(function (rep) {
          if (rep.status !== 200) return;
          reportShown = j.updated_at;
          var d = rep.body;
          $('report-view').hidden = false;
          $('report-verdict').textContent = d.verdict || '';
          $('report-reason').textContent = d.verdict_reason || '';
          var c = d.counts || {};
          facts($('report-counts'), Object.keys(c).map(function (k) { return [k, num(c[k])]; }));
          $('report-json').textContent = JSON.stringify(d, null, 2);
        });
      });
    });
  }

  function act(what) {
    var id = current();
    if (!id) return;
    if (what === 'cancel' && !window.confirm('Cancel job ' + id + '? Running tasks stop after their batch in flight.')) return;
    $('action-msg').textContent = '';
    var post = function () { return api('POST', '/api/jobs/' + encodeURIComponent(id) + '/' + what); };
    post().then(function (r) {
      if (r.status === 401 && askToken()) return post();
      return r;
    }).then(function (r) {
      if (!r) return;
      $('action-msg').textContent = (r.body && (r.body.message || r.body.error)) || ('HTTP ' + r.status);
      tick();
    });
  }

  // ---- routing and polling ----
  function current() {
    var m = /^\/jobs\/([^/]+)\/?$/.exec(location.pathname);
    return m ? decodeURIComponent(m[1]) : null;
  }
  function go(path) { history.pushState(null, '', path); reportShown = null; render(); }
  function render() {
    var id = current();
    $('list-view').hidden = !!id;
    $('job-view').hidden = !id;
    tick();
  }
  var busy = false;
  function tick() {
    if (busy) return;
    busy = true;
    var id = current();
    (id ? showJob(id) : showList()).catch(function (e) { status('cannot reach the API: ' + e.message); })
      .then(function () { busy = false; });
  }

  $('home').addEventListener('click', function (ev) { ev.preventDefault(); go('/'); });
  $('token-btn').addEventListener('click', function () { if (askToken()) tick(); });
  $('cancel-btn').addEventListener('click', function () { act('cancel'); });
  $('resume-btn').addEventListener('click', function () { act('resume'); });
  window.addEventListener('popstate', render);
  render();
  setInterval(tick, POLL_MS);
  api('GET', '/api/jobs').then(function (r) { if (r.status === 401 && askToken()) tick(); });
})();
