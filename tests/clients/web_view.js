// The metrics server's web view (web/index.html, served by --metrics) in real headless
// Chromium, driven by playwright-core (npm) with Debian's /usr/bin/chromium, on a 3-node
// troupe-chat cluster with IRC users on every node in channels whose rooms live on different
// nodes. It checks that the page:
//   - loads and runs with no console error and no page error (to the end of the run);
//   - turns #status "live" once a snapshot came, and draws the three nodes in #graph;
//   - lists the channels' room actors (behaviour chat.room) of more than one node;
//   - shows a mailbox or msgs/s cell changing while troupe-chat-load runs on all nodes;
//   - filters the actor rows by what is typed into #search;
//   - shows a room's info and state (its channel name, from its inspect callback) after a
//     click on its row, for a room on another node than the page's.
// It saves a screenshot (also on a failure, when the page was open) to SCREENSHOT.
//
//   node web_view.js TROUPE_CHAT TROUPE_CHAT_LOAD CHROMIUM SCREENSHOT.png
//
// One line per passed step; on a failure, what was expected and what the page showed, and the
// exit status 1. Every process it started is stopped, also on a failure or an interrupt.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [BIN, LOAD, CHROMIUM, SHOT] = process.argv.slice(2);
const WAIT_MS = 15000; // upper bound for each wait: against a hang, not a timing assertion
const HOST = '127.0.0.1';
const NODES = ['n1', 'n2', 'n3'];

const children = new Set(); // every process started, until it exited
let browser = null;
const sockets = [];

function log(s) { console.log(s); }
function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---- processes ----

function track(p) {
  children.add(p);
  p.on('exit', () => children.delete(p));
  return p;
}

// One troupe-chat node with --metrics; resolves with its IRC, cluster and metrics ports.
function startNode(name, cookie, seed) {
  return new Promise((resolve, reject) => {
    const args = ['--port', '0', '--metrics', `${HOST}:0`, '--node', name, '--cluster',
      `${HOST}:0`, '--cookie-file', cookie];
    if (seed) args.push('--seeds', `${HOST}:${seed}`);
    const p = track(spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '', err = '';
    const got = {};
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${WAIT_MS} ms: ` +
      JSON.stringify(out + err))), WAIT_MS);
    const look = () => {
      let m;
      if ((m = /troupe-chat listening on [^\n]*:(\d+)\n/.exec(out))) got.port = Number(m[1]);
      if ((m = /cluster node \S+ on port (\d+)\n/.exec(err))) got.cluster = Number(m[1]);
      if ((m = /metrics on port (\d+)\n/.exec(err))) got.metrics = Number(m[1]);
      if (got.port && got.cluster && got.metrics) {
        clearTimeout(timer);
        resolve({ name, p, ...got });
      }
    };
    p.stdout.on('data', (d) => { out += d; look(); });
    p.stderr.on('data', (d) => { err += d; process.stderr.write(d); look(); });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited at start: code ${code} signal ${sig}`));
    });
  });
}

// SIGTERM, then wait (bounded) for the exit; SIGKILL if it does not come.
function stop(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) {
      resolve({ code: p.exitCode, sig: p.signalCode });
      return;
    }
    p.removeAllListeners('exit');
    const t = setTimeout(() => { p.kill('SIGKILL'); resolve({ code: null, sig: 'hung (killed)' }); },
      WAIT_MS);
    p.on('exit', (code, sig) => { clearTimeout(t); children.delete(p); resolve({ code, sig }); });
    p.kill('SIGTERM');
  });
}

process.on('exit', () => {
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { console.log('FAIL interrupted by ' + sig); process.exit(1); });
}

// ---- HTTP and IRC ----

async function consoleCmd(node, cmd) {
  const r = await fetch(`http://${HOST}:${node.metrics}/api/console?cmd=${encodeURIComponent(cmd)}`);
  if (r.status !== 200) throw new Error(`${cmd} on ${node.name}: HTTP ${r.status}`);
  return r.json();
}

async function until(what, fn, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last && last.ok !== false) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

// A raw IRC client: lines in, PINGs answered.
function ircClient(port, nick) {
  const sock = net.connect(port, HOST);
  sockets.push(sock);
  const c = { nick, lines: [], waiters: [] };
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (line.startsWith('PING ')) { sock.write('PONG ' + line.slice(5) + '\r\n'); continue; }
      c.lines.push(line);
    }
    c.waiters = c.waiters.filter((w) => !w());
  });
  sock.on('error', () => {});
  c.send = (...ls) => sock.write(ls.map((l) => l + '\r\n').join(''));
  c.waitFor = (rx, from) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${nick}: no line matching ${rx} within ${WAIT_MS} ms; ` +
      `got ${JSON.stringify(c.lines.slice(from))}`)), WAIT_MS);
    const check = () => {
      const i = c.lines.findIndex((l, k) => k >= from && rx.test(l));
      if (i < 0) return false;
      clearTimeout(t);
      resolve(i);
      return true;
    };
    if (!check()) c.waiters.push(check);
  });
  return new Promise((resolve, reject) => {
    sock.once('connect', () => resolve(c));
    sock.once('error', reject);
  });
}

// The node a new channel's room goes to: the rendezvous hashing of examples/chat/rooms.c
// (FNV-1a of node and key, mixed by splitmix64's finaliser), as tests/chat/irclib.py has it.
function chatHome(key, nodes) {
  const M = (1n << 64n) - 1n;
  const fnv = (s) => {
    let h = 1469598103934665603n;
    for (const b of Buffer.from(s)) h = ((h ^ BigInt(b)) * 1099511628211n) & M;
    return h;
  };
  const score = (node) => {
    let h = fnv(node) ^ ((fnv(key) * 0x9E3779B97F4A7C15n) & M);
    h = ((h ^ (h >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
    h = ((h ^ (h >> 27n)) * 0x94D049BB133111EBn) & M;
    return h ^ (h >> 31n);
  };
  return nodes.reduce((a, b) => (score(b) > score(a) ? b : a));
}

// ---- the page ----

// The actor rows as the page shows them: key, and its cells by column name.
function readRows(page) {
  return page.$$eval('#actors tbody tr.actor', (trs) => trs.map((tr) => {
    const c = [...tr.cells].map((td) => td.textContent.trim());
    return { key: tr.dataset.key, node: c[0], pid: c[1], name: c[2], behaviour: c[3],
      mailbox: c[4], rate: c[5], status: c[6] };
  }));
}

async function main() {
  if (!SHOT) {
    console.log('usage: node web_view.js TROUPE_CHAT TROUPE_CHAT_LOAD CHROMIUM SCREENSHOT.png');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-web-'));
  const cookie = path.join(dir, 'cookie');
  fs.writeFileSync(cookie, 'web-view-test-cookie-0123456789abcdef', { mode: 0o600 });
  const nodes = [];
  const errors = []; // the page's console errors and page errors
  let page = null;
  let failed = false;
  let shot = false; // the screenshot is taken
  try {
    nodes.push(await startNode('n1', cookie, 0));
    for (const n of NODES.slice(1)) nodes.push(await startNode(n, cookie, nodes[0].cluster));
    // Until every node knows the others' rooms managers and console agents: then a channel's
    // room goes where chatHome says, and the page can ask every node.
    for (const n of nodes) {
      await until(`${n.name} sees the whole cluster`, async () => {
        const g = await consoleCmd(n, 'groups');
        const mgr = g.groups.find((x) => x.scope === 'chat.g.mgr' && x.name === 'managers');
        const agents = g.groups.filter((x) => x.scope === 'troupe.console').length;
        return { ok: !!mgr && mgr.members === 3 && agents === 3, groups: g.groups };
      });
    }
    log('ok: three nodes up and meshed');

    // Two channels per node, each user on every channel.
    const chans = [];
    for (let k = 0; chans.length < 6 && k < 1000; k++) {
      const ch = `#web${k}`;
      if (chans.filter((c) => chatHome(c, NODES) === chatHome(ch, NODES)).length < 2) chans.push(ch);
    }
    const users = [];
    for (const [i, n] of nodes.entries()) {
      const c = await ircClient(n.port, `user${i + 1}`);
      c.send(`NICK ${c.nick}`, `USER ${c.nick} 0 * :${c.nick} on ${n.name}`);
      await c.waitFor(/ (376|422) /, 0);
      for (const ch of chans) {
        const from = c.lines.length;
        c.send(`JOIN ${ch}`);
        await c.waitFor(new RegExp(` 366 \\S+ ${ch} `), from);
      }
      users.push(c);
    }
    log(`ok: users on n1, n2, n3 joined ${chans.join(' ')}`);

    // As root Chromium runs only without its sandbox.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'],
      timeout: 4 * WAIT_MS });
    page = await browser.newPage({ viewport: { width: 1500, height: 980 } });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()} at ${JSON.stringify(m.location())}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.setDefaultTimeout(WAIT_MS);
    const url = `http://${HOST}:${nodes[0].metrics}/`;
    const resp = await page.goto(url);
    if (resp.status() !== 200) throw new Error(`GET ${url}: ${resp.status()}`);

    await page.waitForFunction(() => document.querySelector('#status').textContent === 'live');
    log('ok: #status is "live"');
    const nodeText = await page.textContent('#node');
    if (!/n1/.test(nodeText)) throw new Error(`#node says ${JSON.stringify(nodeText)}, want n1`);

    await page.waitForFunction((want) => want.every((n) =>
      document.querySelector(`#graph g.gnode[data-node="${n}"]`)), NODES);
    const peers = await page.$$eval('#links tbody tr[data-peer]', (trs) => trs.map((tr) =>
      [tr.dataset.peer, tr.cells[1].textContent.trim()]));
    if (JSON.stringify(peers.sort()) !== JSON.stringify([['n2', 'up'], ['n3', 'up']]))
      throw new Error(`#links shows ${JSON.stringify(peers)}, want n2 and n3 up`);
    // The whole mesh: n1's own links and those n2 and n3 tell of (n2-n3), all up (solid).
    await until('the graph drawing the three links of the mesh, up', () => page.$$eval('#graph line',
      (ls) => ({ ok: ls.length === 3 && ls.every((l) => !l.hasAttribute('stroke-dasharray')),
        lines: ls.length })));
    log('ok: the graph shows n1, n2, n3 and their three links; the links table n2 and n3 up');

    // Every channel's room, on the node the hashing put it on.
    const want = chans.map((ch) => [chatHome(ch, NODES), `room:${ch}`]);
    const rooms = await until('the room actors of every channel in the table', async () => {
      const r = (await readRows(page)).filter((a) => a.behaviour === 'chat.room');
      const have = new Set(r.map((a) => `${a.node} ${a.name}`));
      return { ok: want.every(([n, name]) => have.has(`${n} ${name}`)), rooms: r };
    });
    const roomNodes = new Set(rooms.rooms.map((a) => a.node));
    if (roomNodes.size < 2) throw new Error(`rooms of only ${[...roomNodes]}`);
    log(`ok: the table shows the ${chans.length} rooms (chat.room) on ${[...roomNodes].sort().join(', ')}`);

    // The load: clients on all three nodes in one channel, paced to last a while.
    const load = track(spawn(LOAD, ['--port', String(nodes[0].port), '--ports',
      nodes.map((n) => n.port).join(','), '--clients', '12', '--lines', '600', '--rate', '60',
      '--room', '#webload', '--timeout-s', '60'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let loadOut = '';
    load.stdout.on('data', (d) => { loadOut += d; });
    const loadDone = new Promise((r) => load.on('exit', (code) => r(code)));
    const first = await until('the load room in the table', async () => {
      const r = await readRows(page);
      return { ok: r.some((a) => a.name === 'room:#webload'), rows: r };
    });
    const cells = (rows) => new Map(rows.filter((a) => a.behaviour !== 'metrics.http')
      .map((a) => [a.key, `${a.mailbox}/${a.rate}`]));
    const before = cells(first.rows);
    const changed = await until('a mailbox or msgs/s cell changing under the load', async () => {
      const now = cells(await readRows(page));
      const diff = [...now].filter(([k, v]) => before.has(k) && before.get(k) !== v);
      return { ok: diff.length > 0, diff };
    });
    const room = (await readRows(page)).find((a) => a.name === 'room:#webload');
    log(`ok: under the load cells changed (${changed.diff.slice(0, 3).map(([k, v]) =>
      `${k}: ${before.get(k)} -> ${v}`).join('; ')}); the load's room shows ${room.rate} msgs/s`);

    // Search: only the rows with the text in a cell (the rooms, the rooms managers), all
    // the rooms among them; then one room's name: that row alone.
    const all = (await readRows(page)).length;
    await page.fill('#search', 'chat.room');
    const found = await readRows(page);
    const hasRooms = want.every(([n, name]) => found.some((a) => a.node === n && a.name === name));
    if (!hasRooms || found.length >= all ||
        found.some((a) => ![a.name, a.behaviour, a.pid, a.node].some((v) => v.includes('chat.room'))))
      throw new Error(`#search "chat.room": ${found.length} of ${all} rows: ` +
        JSON.stringify(found.map((a) => [a.name, a.behaviour])));
    const target = want.find(([n]) => n !== 'n1');
    await page.fill('#search', target[1]);
    const one = await readRows(page);
    if (one.length !== 1 || one[0].name !== target[1] || one[0].node !== target[0])
      throw new Error(`#search ${JSON.stringify(target[1])}: ${JSON.stringify(one)}`);
    log(`ok: #search "chat.room" shows ${found.length} of ${all} rows, "${target[1]}" one`);

    // A click on that room (on another node than the page's): its info and state.
    await page.click(`#actors tbody tr.actor[data-key="${one[0].key}"]`);
    await page.waitForSelector('#state-json');
    const state = JSON.parse(await page.textContent('#state-json'));
    const info = JSON.parse(await page.textContent('#info-json'));
    if (state.name !== target[1].slice('room:'.length) || !Array.isArray(state.members) ||
        state.members.length !== users.length)
      throw new Error(`#state-json of ${one[0].key}: ${JSON.stringify(state)}, want channel ` +
        `${target[1].slice('room:'.length)} with ${users.length} members`);
    if (info.pid !== one[0].pid || info.behaviour !== 'chat.room')
      throw new Error(`#info-json of ${one[0].key}: ${JSON.stringify(info)}`);
    const peersWanted = ['linked', 'monitoring', 'watched_by'].reduce((n, k) =>
      n + (info[k] || []).length, 0);
    const drawn = await page.$$eval('#edges g.peer', (g) => g.length);
    if (peersWanted > 0 && drawn === 0)
      throw new Error(`#edges draws nothing for ${peersWanted} links and monitors`);
    log(`ok: a click on ${one[0].key} shows its state (channel ${state.name}, members ` +
      `${state.members.join(' ')}) and info; #edges draws ${drawn} peers`);
    // The picture: the whole table again, the room's detail, the load still running.
    await page.fill('#search', '');
    await sleep(1200);
    await page.screenshot({ path: SHOT });
    shot = true;
    log(`screenshot: ${SHOT}`);

    const code = await loadDone;
    if (code !== 0) throw new Error(`troupe-chat-load exited ${code}: ${loadOut}`);
    log(`ok: the load ran: ${loadOut.trim()}`);
    await sleep(1500); // a snapshot or two more, for the page's errors and the screenshot
    if (errors.length) throw new Error(`the page logged errors:\n  ${errors.join('\n  ')}`);
    log('ok: no console error and no page error');
  } catch (e) {
    failed = true;
    console.log('FAIL ' + e.message);
    if (errors.length && !e.message.startsWith('the page logged'))
      console.log('  the page logged:\n  ' + errors.join('\n  '));
  } finally {
    if (page && !shot) {
      try {
        await page.screenshot({ path: SHOT });
        log(`screenshot: ${SHOT}`);
      } catch (e) {
        console.log('FAIL screenshot: ' + e.message);
        failed = true;
      }
    }
    if (browser) await browser.close().catch(() => {});
    for (const s of sockets) s.destroy();
    const rcs = await Promise.all([...children].filter((p) => !nodes.some((n) => n.p === p))
      .map(stop).concat(nodes.map((n) => stop(n.p))));
    const bad = rcs.filter((r) => r.code !== 0);
    if (bad.length) {
      failed = true;
      console.log(`FAIL processes exited with ${JSON.stringify(rcs)}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

main();
