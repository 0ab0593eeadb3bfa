// troupe-chat driven by irc-framework (Kiwi IRC's client library) at its default settings
// (only auto_reconnect is off, so that a failure ends the run), and by a raw socket that
// pipelines commands. It guards what a real client library relies on: registration (CAP LS
// with no caps, 001), JOIN with the names list and its operator prefix, channel and private
// messages (UTF-8 kept intact), TOPIC on a +t channel (only the operator may set it), NICK,
// WHOIS, KICK (and that a kicked user can no longer talk in the channel), PART and QUIT with
// their reasons, all parsed into the library's events; and that a client's pipelined
// commands are answered strictly in order.
// The server is stopped with SIGTERM at the end and must exit 0.
//
//   node chat_clients.js TROUPE_CHAT_BINARY
//
// One line per passed step; on a failure, what was expected and the raw lines that arrived.
// Exit status 0 only when every step passed. Set CHAT_CLIENTS_RAW=1 to print every raw line
// the irc-framework clients send and receive. Lines the library did not understand
// ('unknown command') are listed at the end as notes, not failures.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const IRC = require('irc-framework');

const BIN = process.argv[2];
const WAIT_MS = 10000; // upper bound for each wait: against a hang, not a timing assertion
const PIPE_ROUNDS = 20;
const RAW = !!process.env.CHAT_CLIENTS_RAW;
const HOST = '127.0.0.1';

let server = null; // the running troupe-chat, while it runs
let serverDied = null; // rejects when the server exits before we stop it

// ---- the server ----

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not print its port within ' +
      WAIT_MS + ' ms; stdout so far: ' + JSON.stringify(out))), WAIT_MS);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /^troupe-chat listening on 127\.0\.0\.1:(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ p, port: Number(m[1]) });
      }
    });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error('server exited at start: code ' + code + ' signal ' + sig));
    });
  });
}

// SIGTERM, then wait (bounded) for the exit; SIGKILL if it does not come.
function stopServer(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) {
      resolve({ code: p.exitCode, sig: p.signalCode }); // gone already
      return;
    }
    p.removeAllListeners('exit');
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve({ code: null, sig: 'hung (killed)' });
    }, WAIT_MS);
    p.on('exit', (code, sig) => { clearTimeout(t); resolve({ code, sig }); });
    p.kill('SIGTERM');
  });
}

// Whatever happens (a failure, an exception, ctest's interrupt), the server does not
// outlive this script.
process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.log('FAIL interrupted by ' + sig);
    process.exit(1);
  });
}

// ---- bounded waits ----

function within(ms, what, promise) {
  let t;
  return Promise.race([
    promise,
    serverDied,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms: ' + what)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function show(v) {
  const noise = new Set(['tags', 'time', 'reply']);
  return JSON.stringify(v, (k, x) => (noise.has(k) ? undefined : x));
}

function expect(cond, what, got) {
  if (!cond) throw new Error('expected ' + what + ', got ' + show(got));
}

// ---- an irc-framework client that records what it sees ----

const EVENTS = ['registered', 'join', 'part', 'quit', 'kick', 'nick', 'topic', 'privmsg',
  'notice', 'userlist', 'whois', 'mode', 'pong', 'irc error', 'close', 'motd', 'topicsetby'];

class Peer {
  constructor(label, nick, username, gecos) {
    Object.assign(this, { label, nick, username, gecos });
    this.client = new IRC.Client();
    this.log = []; // [{name, ev, used}] in arrival order
    this.raw = []; // "<- line" received, "-> line" sent
    this.mark = 0; // raw lines before the current step
    this.waiters = [];
    this.unknown = []; // "command [params]" of lines irc-framework has no handler for
    for (const name of EVENTS) this.client.on(name, (ev) => this.record(name, ev));
    this.client.on('raw', (r) => {
      const line = (r.from_server ? '<- ' : '-> ') + r.line.replace(/[\r\n]+$/, '');
      this.raw.push(line);
      if (RAW) console.log('     ' + label + ' ' + line);
    });
    this.client.on('unknown command', (c) => {
      this.unknown.push(c.command + ' ' + JSON.stringify(c.params));
    });
  }

  connect(port) {
    this.client.connect({ host: HOST, port, nick: this.nick, username: this.username,
      gecos: this.gecos, auto_reconnect: false });
  }

  record(name, ev) {
    const entry = { name, ev, used: false };
    this.log.push(entry);
    for (const w of this.waiters) {
      if (!entry.used && w.name === name && w.pred(ev)) {
        entry.used = true;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(entry);
        return;
      }
    }
  }

  // The first event called `name` that matches pred and no earlier wait took: it may have
  // arrived already. Resolves with the log entry ({name, ev}).
  next(name, what, pred = () => true) {
    const have = this.log.find((e) => !e.used && e.name === name && pred(e.ev));
    if (have) {
      have.used = true;
      return Promise.resolve(have);
    }
    let w;
    const p = new Promise((resolve) => {
      w = { name, pred, resolve };
      this.waiters.push(w);
    });
    return within(WAIT_MS, this.label + ' to see ' + what, p).catch((e) => {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      throw e;
    });
  }

  async event(name, what, pred) {
    return (await this.next(name, what, pred)).ev;
  }

  // Not yet taken events called `name` (for "nothing arrived" checks).
  pending(name) {
    return this.log.filter((e) => !e.used && e.name === name).map((e) => e.ev);
  }

  // A PING round trip: everything the server wrote to us before the PONG has been parsed.
  async roundTrip(token) {
    this.client.ping(token);
    return this.next('pong', 'PONG ' + token, (e) => e.message === token);
  }

  since() {
    return this.raw.slice(this.mark);
  }
}

// ---- the steps with irc-framework ----

const CHAN = '#fw';

async function ircSteps(port, A, B, step) {
  await step('A and B register (001 gives the nick asked for)', async () => {
    A.connect(port);
    B.connect(port);
    for (const p of [A, B]) {
      const ev = await p.event('registered', '001 (registered)');
      expect(ev.nick === p.nick, 'registered nick ' + p.nick, ev);
      expect(p.client.network.name === 'troupe', 'NETWORK=troupe from 005', p.client.network.name);
    }
  });

  await step('A joins ' + CHAN + ' and is its operator', async () => {
    A.client.join(CHAN);
    const j = await A.event('join', 'its own JOIN');
    expect(j.nick === A.nick && j.channel === CHAN, 'JOIN ' + CHAN + ' by ' + A.nick, j);
    const names = await A.event('userlist', 'the names of ' + CHAN);
    expect(names.channel === CHAN && show(names.users.map((u) => [u.nick, u.modes])) ===
      show([[A.nick, ['o']]]), 'names of ' + CHAN + ': @' + A.nick, names);
  });

  await step('B joins ' + CHAN + ': A sees the join, B gets @A and itself in names', async () => {
    B.client.join(CHAN);
    const seen = await A.event('join', 'B\'s JOIN');
    expect(seen.nick === B.nick && seen.ident === B.username && seen.hostname === HOST &&
      seen.channel === CHAN, B.nick + '!' + B.username + '@' + HOST + ' JOIN ' + CHAN, seen);
    const own = await B.event('join', 'its own JOIN');
    expect(own.nick === B.nick && own.channel === CHAN, 'JOIN ' + CHAN + ' by ' + B.nick, own);
    const names = await B.event('userlist', 'the names of ' + CHAN);
    const got = names.users.map((u) => [u.nick, u.modes]);
    expect(names.channel === CHAN && show(got) === show([[A.nick, ['o']], [B.nick, []]]),
      'names of ' + CHAN + ': @' + A.nick + ' ' + B.nick, names);
  });

  await step('channel messages both ways, UTF-8 intact', async () => {
    const texts = [[A, B, 'hello from ' + A.nick], [B, A, 'héllo wörld ✓'],
      [A, B, 'ünïcödé back: 日本語 🎉'], [B, A, 'a: b :c  d']];
    for (const [from, to, text] of texts) {
      from.client.say(CHAN, text);
      const m = await to.event('privmsg', 'PRIVMSG ' + CHAN + ' from ' + from.nick);
      expect(m.nick === from.nick && m.target === CHAN && m.message === text,
        show({ nick: from.nick, target: CHAN, message: text }), m);
    }
  });

  await step('a private message A -> B', async () => {
    const text = 'psst, just you ✓';
    A.client.say(B.nick, text);
    const m = await B.event('privmsg', 'a PRIVMSG from ' + A.nick);
    expect(m.nick === A.nick && m.target === B.nick && m.message === text,
      show({ nick: A.nick, target: B.nick, message: text }), m);
  });

  const topic = 'the fw topic — ✓ tested';
  await step('A (operator) sets the topic; B sees it; B (not operator) may not', async () => {
    A.client.setTopic(CHAN, topic);
    const t = await B.event('topic', 'TOPIC ' + CHAN);
    expect(t.nick === A.nick && t.channel === CHAN && t.topic === topic,
      show({ nick: A.nick, channel: CHAN, topic }), t);
    const echo = await A.event('topic', 'its own TOPIC');
    expect(echo.nick === A.nick && echo.topic === topic, 'its own TOPIC echoed', echo);
    B.client.setTopic(CHAN, 'not allowed');
    const err = await B.event('irc error', '482 for a topic on a +t channel');
    expect(err.error === 'chanop_privs_needed' && err.channel === CHAN,
      '482 (chanop_privs_needed) for ' + CHAN, err);
  });

  const oldB = B.nick, newB = 'bobby';
  await step('B changes its nick: A sees old and new', async () => {
    B.client.changeNick(newB);
    const n = await A.event('nick', 'NICK from ' + oldB);
    expect(n.nick === oldB && n.new_nick === newB, oldB + ' -> ' + newB, n);
    const own = await B.event('nick', 'its own NICK');
    expect(own.nick === oldB && own.new_nick === newB, 'its own ' + oldB + ' -> ' + newB, own);
    expect(B.client.user.nick === newB, 'irc-framework to track the new nick', B.client.user.nick);
    B.nick = newB;
  });

  await step('A does WHOIS ' + newB, async () => {
    A.client.whois(newB);
    const w = await A.event('whois', 'the WHOIS reply');
    expect(w.nick === newB && w.ident === B.username && w.hostname === HOST &&
      w.real_name === B.gecos && w.server === 'troupe-chat' && w.channels === CHAN && !w.error,
    show({ nick: newB, ident: B.username, hostname: HOST, real_name: B.gecos,
      server: 'troupe-chat', channels: CHAN }), w);
  });

  await step('A kicks B with a reason; B can no longer talk in ' + CHAN, async () => {
    const reason = 'please behave';
    A.client.raw('KICK', CHAN, B.nick, reason);
    for (const p of [B, A]) {
      const k = await p.event('kick', 'KICK of ' + B.nick);
      expect(k.kicked === B.nick && k.nick === A.nick && k.channel === CHAN && k.message === reason,
        show({ kicked: B.nick, nick: A.nick, channel: CHAN, message: reason }), k);
    }
    // B's commands are handled in order: the 404 comes before the PONG. Once B has both, the
    // PRIVMSG was refused; A's own round trip after that flushes anything that had reached A.
    const text = 'am I still in?';
    B.client.say(CHAN, text);
    const pong = B.roundTrip('after-kick');
    pong.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
    const err = await B.next('irc error', '404 for a PRIVMSG after the kick');
    expect(err.ev.error === 'cannot_send_to_channel' && err.ev.channel === CHAN,
      '404 (cannot_send_to_channel) for ' + CHAN, err.ev);
    const p = await pong;
    expect(B.log.indexOf(err) < B.log.indexOf(p), '404 before the PONG', B.since());
    await A.roundTrip('a-after-kick');
    const leaked = A.pending('privmsg');
    expect(leaked.length === 0, A.nick + ' to get no PRIVMSG from the kicked ' + B.nick, leaked);
  });

  await step('B rejoins (and gets the topic), then parts with a reason', async () => {
    B.client.join(CHAN);
    const seen = await A.event('join', 'B\'s JOIN again');
    expect(seen.nick === B.nick && seen.channel === CHAN, B.nick + ' JOIN ' + CHAN, seen);
    const t = await B.event('topic', '332 with the topic on joining');
    expect(t.channel === CHAN && t.topic === topic, '332 ' + CHAN + ' :' + topic, t);
    const names = await B.event('userlist', 'the names of ' + CHAN);
    const got = names.users.map((u) => [u.nick, u.modes]);
    expect(show(got) === show([[A.nick, ['o']], [B.nick, []]]),
      'names of ' + CHAN + ': @' + A.nick + ' ' + B.nick, names);
    // 333 (who set the topic) is optional; when sent, it comes before the names and names A.
    for (const by of B.pending('topicsetby'))
      expect(by.nick === A.nick && by.channel === CHAN && /^\d+$/.test(by.when),
        '333 ' + CHAN + ' ' + A.nick + ' <time>', by);
    const reason = 'gotta go, bye ✓';
    B.client.part(CHAN, reason);
    const part = await A.event('part', 'PART from ' + B.nick);
    expect(part.nick === B.nick && part.channel === CHAN && part.message === reason,
      show({ nick: B.nick, channel: CHAN, message: reason }), part);
    const own = await B.event('part', 'its own PART');
    expect(own.nick === B.nick && own.message === reason, 'its own PART with the reason', own);
  });

  await step('B joins again and quits with a message: A sees "Quit: ..."', async () => {
    B.client.join(CHAN);
    await A.event('join', 'B\'s JOIN again', (e) => e.nick === B.nick);
    await B.event('userlist', 'the names of ' + CHAN);
    const message = 'see you ✓';
    B.client.quit(message);
    const q = await A.event('quit', 'QUIT from ' + B.nick);
    expect(q.nick === B.nick && q.message === 'Quit: ' + message,
      show({ nick: B.nick, message: 'Quit: ' + message }), q);
    await B.event('close', 'the connection to close');
    const err = B.log.find((e) => e.name === 'irc error' && e.ev.error === 'irc');
    expect(err && /^Closing Link: /.test(err.ev.reason), 'ERROR :Closing Link before the close',
      B.since());
  });

  await step('A quits', async () => {
    A.client.quit('done');
    await A.event('close', 'the connection to close');
    const err = A.log.find((e) => e.name === 'irc error' && e.ev.error === 'irc');
    expect(err && err.ev.reason === 'Closing Link: ' + HOST + ' (Quit: done)',
      'ERROR :Closing Link: ' + HOST + ' (Quit: done)', A.since());
  });
}

// ---- the pipelined conversation on a raw socket ----

// Lines from a socket, one at a time, with a bound on each wait; 'closed' once it ends.
function lineReader(sock) {
  let buf = '', closed = false, wake = null;
  const lines = [];
  sock.setEncoding('utf8');
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
    if (wake) wake();
  });
  const end = () => { closed = true; if (wake) wake(); };
  sock.on('end', end);
  sock.on('close', end);
  sock.on('error', end);
  return {
    seen: [],
    async next(what) {
      await within(WAIT_MS, what, new Promise((resolve) => {
        const check = () => {
          if (lines.length || closed) { wake = null; resolve(); } else wake = check;
        };
        check();
      }));
      const line = lines.length ? lines.shift() : null; // null: the socket closed
      this.seen.push(line === null ? '(closed)' : line);
      return line;
    },
    rest: () => buf,
  };
}

async function pipelined(port, i) {
  const nick = 'pipe' + i, chan = '#pipe' + i;
  const sock = net.connect(port, HOST);
  const rd = lineReader(sock);
  try {
    await within(WAIT_MS, 'connect', new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    }));
    sock.write('NICK ' + nick + '\r\nUSER ' + nick + ' 0 * :Pipe ' + i + '\r\n');
    for (;;) { // the welcome ends with the MOTD's 376
      const line = await rd.next('registration (376)');
      if (line === null) throw new Error('closed during registration');
      if (/^:troupe-chat 376 /.test(line)) break;
    }
    rd.seen.length = 0;
    sock.write('JOIN ' + chan + '\r\nTOPIC ' + chan + ' :t1\r\nTOPIC ' + chan + '\r\nNAMES ' +
      chan + '\r\nPING :p\r\nQUIT :done\r\n');
    // Each reply as a regular expression: literal text through lit(), the rest is pattern.
    const lit = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const me = lit(':' + nick + '!' + nick + '@' + HOST), srv = lit(':troupe-chat ');
    const names = srv + '353 ' + nick + ' [=*@] ' + chan + ' :@' + nick;
    const endNames = srv + '366 ' + nick + ' ' + chan + ' :.*';
    const want = [
      ['the JOIN echo', me + ' JOIN :?' + chan],
      ['353 of the join', names],
      ['366 of the join', endNames],
      ['the TOPIC echo', me + ' TOPIC ' + chan + ' :t1'],
      ['332 with t1', srv + '332 ' + nick + ' ' + chan + ' :t1'],
      ['333 (who set the topic, when)', srv + '333 ' + nick + ' ' + chan + ' ' + nick + ' \\d+',
        'optional'],
      ['353 of NAMES', names],
      ['366 of NAMES', endNames],
      ['the PONG', srv + 'PONG troupe-chat :p'],
      ['ERROR :Closing Link', lit('ERROR :Closing Link: ' + HOST + ' (Quit: done)')],
    ];
    let line;
    for (const [what, pattern, optional] of want) {
      line = line === undefined ? await rd.next(what) : line;
      const re = new RegExp('^' + pattern + '$');
      if (optional && (line === null || !re.test(line)))
        continue; // not there: the line is the next one's
      if (line === null || !re.test(line))
        throw new Error('round ' + i + ': expected ' + what + ' (/' + re.source + '/), got ' +
          JSON.stringify(line) + '; replies so far: ' + show(rd.seen));
      line = undefined;
    }
    const last = await rd.next('the socket to close after ERROR');
    if (last !== null)
      throw new Error('round ' + i + ': expected the socket to close after ERROR, got ' +
        JSON.stringify(last) + '; replies: ' + show(rd.seen));
  } finally {
    sock.destroy();
  }
}

// ---- main ----

(async () => {
  if (!BIN) {
    console.log('usage: node chat_clients.js TROUPE_CHAT_BINARY');
    process.exit(2);
  }
  const t0 = Date.now();
  const A = new Peer('A', 'alice', 'aliceu', 'Alice Real');
  const B = new Peer('B', 'bob', 'bobu', 'Bob Real');
  let current = 'starting the server', failed = null;
  const step = async (name, fn) => {
    current = name;
    for (const p of [A, B]) p.mark = p.raw.length;
    await fn();
    console.log('ok   ' + name);
  };
  try {
    const started = await startServer();
    server = started.p;
    serverDied = new Promise((_, reject) => server.once('exit', (code, sig) =>
      reject(new Error('the server exited unexpectedly: code ' + code + ' signal ' + sig))));
    serverDied.catch(() => {}); // only ever observed through within()
    console.log('     troupe-chat on port ' + started.port);
    await ircSteps(started.port, A, B, step);
    await step('pipelined JOIN/TOPIC/TOPIC/NAMES/PING/QUIT in one write, answered in order, ' +
      PIPE_ROUNDS + ' times', async () => {
      for (let i = 1; i <= PIPE_ROUNDS; i++) await pipelined(started.port, i);
    });
    await step('SIGTERM stops the server with exit status 0', async () => {
      const p = server;
      const stopped = await stopServer(p);
      server = null;
      expect(stopped.code === 0, 'exit status 0', stopped);
    });
  } catch (e) {
    failed = e;
  }
  if (failed) {
    console.log('FAIL ' + current + ': ' + failed.message);
    for (const p of [A, B]) {
      const lines = p.since();
      if (lines.length) {
        console.log('     ' + p.label + ' (' + p.nick + ') raw lines in this step:');
        for (const l of lines) console.log('       ' + l);
      }
    }
  }
  for (const p of [A, B]) {
    for (const u of [...new Set(p.unknown)])
      console.log('note ' + p.label + ': irc-framework has no handler for ' + u);
    p.client.removeAllListeners();
    if (p.client.connected) p.client.connection.end();
  }
  if (server) await stopServer(server);
  console.log((failed ? 'FAILED' : 'passed') + ' in ' + (Date.now() - t0) + ' ms');
  process.exit(failed ? 1 : 0);
})();
