// troupe-pubsub driven by the Redis client libraries people use, at their default settings:
// ioredis 5 (RESP2) and 6 (RESP3 by default, and RESP2), node-redis 4, 5 (RESP2) and 6
// (RESP3 by default, and RESP2). For each: connect, subscribe and psubscribe, receive what
// another connection publishes in order (message before pmessage), PING in subscribed mode,
// unsubscribe, then survive a server restart: the library reconnects and resubscribes, and
// messages flow again.
//
//   node pubsub_clients.js TROUPE_PUBSUB_BINARY
//
// Exit status 0 only when every library passed every step; each failure is printed.
'use strict';
const { spawn } = require('child_process');
const net = require('net');

const BIN = process.argv[2];
const WAIT_MS = 15000;
const MESSAGES = 50;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function startServer(port) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start')), WAIT_MS);
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening on')) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    p.on('exit', (code) => reject(new Error('server exited at start: ' + code)));
  });
}

function stopServer(p) {
  return new Promise((resolve) => {
    p.removeAllListeners('exit');
    p.on('exit', (code, sig) => resolve({ code, sig }));
    p.kill('SIGTERM');
  });
}

function within(ms, what, promise) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error('timed out: ' + what)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function waitFor(cond, what) {
  return within(WAIT_MS, what, new Promise((resolve) => {
    const tick = () => (cond() ? resolve() : setTimeout(tick, 10));
    tick();
  }));
}

// One library behind a small common face: connect, subscribe (with a callback per push),
// publish, ping in subscribed mode, unsubscribe, and close.
function ioredisClient(mod, opts) {
  const Redis = require(mod);
  return {
    async connect(port, onPush) {
      const make = () => new Redis({ port, host: '127.0.0.1', ...opts });
      this.sub = make();
      this.pub = make();
      this.sub.on('error', () => {});
      this.pub.on('error', () => {});
      this.sub.on('message', (ch, m) => onPush('message', null, ch, m));
      this.sub.on('pmessage', (p, ch, m) => onPush('pmessage', p, ch, m));
      await Promise.all([new Promise((r) => this.sub.once('ready', r)),
        new Promise((r) => this.pub.once('ready', r))]);
    },
    async subscribe(ch, pattern) { await this.sub.subscribe(ch); await this.sub.psubscribe(pattern); },
    publish(ch, m) { return this.pub.publish(ch, m); },
    ping() { return this.sub.ping(); },
    async unsubscribe(ch, pattern) { await this.sub.unsubscribe(ch); await this.sub.punsubscribe(pattern); },
    ready() { return this.sub.status === 'ready' && this.pub.status === 'ready'; },
    close() { this.sub.disconnect(); this.pub.disconnect(); },
  };
}

function nodeRedisClient(mod, opts) {
  const { createClient } = require(mod);
  return {
    async connect(port, onPush) {
      this.onPush = onPush;
      const url = 'redis://127.0.0.1:' + port;
      const reconnectStrategy = () => 50;
      this.pub = createClient({ url, socket: { reconnectStrategy }, ...opts });
      this.sub = createClient({ url, socket: { reconnectStrategy }, ...opts });
      this.pub.on('error', () => {});
      this.sub.on('error', () => {});
      await this.pub.connect();
      await this.sub.connect();
    },
    async subscribe(ch, pattern) {
      await this.sub.subscribe(ch, (m, c) => this.onPush('message', null, c || ch, m));
      await this.sub.pSubscribe(pattern, (m, c) => this.onPush('pmessage', pattern, c, m));
    },
    publish(ch, m) { return this.pub.publish(ch, m); },
    ping() { return this.sub.ping(); },
    async unsubscribe(ch, pattern) { await this.sub.unsubscribe(ch); await this.sub.pUnsubscribe(pattern); },
    ready() { return this.sub.isReady && this.pub.isReady; },
    close() {
      for (const c of [this.sub, this.pub]) {
        if (c.destroy) c.destroy(); else c.disconnect();
      }
    },
  };
}

const LIBRARIES = [
  ['ioredis 5 (defaults)', () => ioredisClient('ioredis5', {}), 2],
  ['ioredis 6 (defaults)', () => ioredisClient('ioredis6', {}), 3],
  ['ioredis 6 (protocol 2)', () => ioredisClient('ioredis6', { protocol: 2 }), 2],
  ['node-redis 4 (defaults)', () => nodeRedisClient('redis4', {}), 2],
  ['node-redis 5 (defaults)', () => nodeRedisClient('redis5', {}), 2],
  ['node-redis 5 (named)', () => nodeRedisClient('redis5', { name: 'tester' }), 2],
  ['node-redis 6 (defaults)', () => nodeRedisClient('redis6', {}), 3],
  ['node-redis 6 (RESP 2)', () => nodeRedisClient('redis6', { RESP: 2 }), 2],
];

async function exercise(name, make) {
  const port = await freePort();
  let server = await startServer(port);
  const lib = make();
  const got = [];
  const onPush = (kind, pattern, ch, m) => got.push([kind, String(pattern), String(ch), String(m)]);
  try {
    await within(WAIT_MS, 'connect', lib.connect(port, onPush));
    const ch = 'news', pattern = 'ne*';
    await within(WAIT_MS, 'subscribe', lib.subscribe(ch, pattern));
    for (let i = 0; i < MESSAGES; i++) {
      const n = await within(WAIT_MS, 'publish', lib.publish(ch, 'm' + i));
      if (Number(n) !== 2) throw new Error('publish counted ' + n + ' receivers, want 2');
    }
    await waitFor(() => got.length === 2 * MESSAGES, 'messages');
    for (let i = 0; i < MESSAGES; i++) {
      const [a, b] = [got[2 * i], got[2 * i + 1]];
      if (a[0] !== 'message' || a[3] !== 'm' + i || b[0] !== 'pmessage' || b[1] !== pattern ||
          b[2] !== ch || b[3] !== 'm' + i)
        throw new Error('push ' + i + ' out of order or wrong: ' + JSON.stringify([a, b]));
    }
    const pong = await within(WAIT_MS, 'ping', lib.ping());
    if (!/pong/i.test(JSON.stringify(pong))) throw new Error('ping answered ' + JSON.stringify(pong));
    // Restart the server on the same port: the library reconnects and resubscribes.
    const stopped = await stopServer(server);
    if (stopped.code !== 0) throw new Error('server exited ' + JSON.stringify(stopped));
    server = await startServer(port);
    got.length = 0;
    let n = 0;
    await waitFor(() => lib.ready(), 'reconnect');
    // The resubscription may land a moment after the connection is ready: publish until the
    // new server counts both subscriptions again.
    await within(WAIT_MS, 'resubscribe', (async () => {
      while (Number(n) !== 2) {
        n = await lib.publish(ch, 'probe');
        if (Number(n) !== 2) await new Promise((r) => setTimeout(r, 20));
      }
    })());
    await lib.publish(ch, 'after restart');
    await waitFor(() => got.some((g) => g[0] === 'message' && g[3] === 'after restart'),
      'a message after the restart');
    await within(WAIT_MS, 'unsubscribe', lib.unsubscribe(ch, pattern));
    const after = await lib.publish(ch, 'nobody');
    if (Number(after) !== 0) throw new Error('after unsubscribing, publish counted ' + after);
    return null;
  } catch (e) {
    return e.message;
  } finally {
    lib.close();
    await stopServer(server);
  }
}

(async () => {
  let failed = 0;
  for (const [name, make] of LIBRARIES) {
    const err = await exercise(name, make);
    if (err) {
      failed++;
      console.log('FAIL ' + name + ': ' + err);
    } else {
      console.log('ok   ' + name);
    }
  }
  console.log(failed + ' librar' + (failed === 1 ? 'y' : 'ies') + ' failed');
  process.exit(failed ? 1 : 0);
})();
