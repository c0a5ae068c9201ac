// report.js — turns the raw iogate-bench JSON files of one `make bench`
// (named <scenario>.<server>.<repeat>.json) into tables: for each
// scenario and figure, the median and range over the repeats for every
// server, and the ratio to the reference ("× node", > 1 means better
// whichever way the figure points).  Three groups: the main table (iogate,
// --echo, Node.js socket.io), the Python rows (gateway + workers/python vs
// python-socketio, "× py-sio") and the ZeroMQ floor (iogate-zmq-floor, no
// reference: it says how much of iogate's figure is libzmq's own).  Also
// writes the summary and the raw runs as JSON.
// Usage: node bench/report.js RAW_DIR OUT.json
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const [rawDir, outFile] = process.argv.slice(2);
const runs = [];
for (const f of fs.readdirSync(rawDir).sort()) {
    const m = /^(.+)\.([a-z]+)\.(\d+)\.json$/.exec(f);
    if (!m) continue;
    try {
        const r = JSON.parse(fs.readFileSync(path.join(rawDir, f), 'utf8'));
        runs.push({ name: m[1], server: m[2], repeat: Number(m[3]), result: r });
    } catch (e) {
        process.stderr.write(`report: ${f}: ${e.message}\n`);
    }
}

// Figures per scenario: [label, unit, getter, higher-is-better, target]
// A target is {ratio: x} (× node, for iogate) or {max: v} (absolute, iogate).
const rate = (r) => r.ops_per_sec;
const cpu = (r) => r.server.cpu_us_per_op;
const p = (q) => (r) => r.latency_us[q];
const csw = (r) => r.server.ctx_switches_per_op;
const floorFigs = [['round trips/s', '/s', rate, true],
    ['CPU/round trip, both processes', 'µs', cpu, false],
    ['context switches/round trip', '', csw, false],
    ['p50 latency', 'µs', p('p50'), false],
    ['p99 latency', 'µs', p('p99'), false]];
const FIGS = {
    echo: [['round trips/s', '/s', rate, true, { ratio: 4 }],
        ['server CPU/round trip', 'µs', cpu, false, { ratio: 4 }],
        ['p99 latency', 'µs', p('p99'), false]],
    'echo-ack': [['round trips/s', '/s', rate, true, { ratio: 4 }],
        ['server CPU/round trip', 'µs', cpu, false, { ratio: 4 }],
        ['p99 latency', 'µs', p('p99'), false]],
    'echo-tls': [['round trips/s', '/s', rate, true],
        ['server CPU/round trip', 'µs', cpu, false],
        ['p99 latency', 'µs', p('p99'), false]],
    'echo-1k': [['round trips/s', '/s', rate, true],
        ['server CPU/round trip', 'µs', cpu, false]],
    broadcast: [['deliveries/s', '/s', rate, true],
        ['server CPU/delivery', 'µs', cpu, false, { ratio: 8 }],
        ['p99 latency', 'µs', p('p99'), false]],
    'connect-ws': [['connects/s', '/s', rate, true, { ratio: 5 }],
        ['server CPU/connect', 'µs', cpu, false, { ratio: 5 }]],
    'connect-polling': [['connects/s', '/s', rate, true, { ratio: 5 }],
        ['server CPU/connect', 'µs', cpu, false, { ratio: 5 }]],
    idle: [['memory/connection', 'B', (r) => r.server.rss_bytes_per_conn, false, { max: 2048 }],
        ['connections held', '', (r) => r.connections, true]],
    'fixed-rate': [['achieved rate', '/s', rate, true],
        ['p50 latency', 'µs', p('p50'), false],
        ['p99 latency', 'µs', p('p99'), false, { max: 500 }],
        ['max latency', 'µs', p('max'), false],
        ['server CPU/message', 'µs', cpu, false]],
    'zmq-floor': floorFigs,
    'zmq-floor-sat': floorFigs,
    'py-echo': [['round trips/s', '/s', rate, true],
        ['server CPU/round trip', 'µs', cpu, false, { ratio: 3 }],
        ['p99 latency', 'µs', p('p99'), false]],
    'py-fixed-rate': [['achieved rate', '/s', rate, true],
        ['p50 latency', 'µs', p('p50'), false],
        ['p99 latency', 'µs', p('p99'), false],
        ['server CPU/round trip', 'µs', cpu, false, { ratio: 3 }]],
};
const SERVERS = ['iogate', 'echo', 'node', 'pyiogate', 'pysocketio', 'zmq'];
// Per group: the reference the ratios are taken against, and the servers
// compared with it (the first one is the one targets are about).
const group = (name) => (name.startsWith('py-') ? 'python' : name.startsWith('zmq-') ? 'floor' : 'main');
const REF = { main: 'node', python: 'pysocketio', floor: null };
const SUBJECTS = { main: ['iogate', 'echo'], python: ['pyiogate'], floor: [] };

const median = (a) => {
    const s = [...a].sort((x, y) => x - y);
    const n = s.length;
    return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const fmt = (v) => {
    if (v === undefined || Number.isNaN(v)) return '-';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    return v.toFixed(2);
};
const ratioFmt = (x) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(x >= 10 ? 0 : 1) + '×');

const rows = [];
const scenarios = [...new Set(runs.map((r) => r.name))];
const order = Object.keys(FIGS);
scenarios.sort((a, b) => order.indexOf(a) - order.indexOf(b));
for (const name of scenarios) {
    for (const [label, unit, get, higher, target] of FIGS[name] || []) {
        const row = { scenario: name, figure: label, unit, better: higher ? 'higher' : 'lower', servers: {} };
        for (const srv of SERVERS) {
            const vals = runs.filter((r) => r.name === name && r.server === srv && r.result.ops > 0)
                .map((r) => get(r.result)).filter((v) => typeof v === 'number');
            const failed = runs.filter((r) => r.name === name && r.server === srv && !(r.result.ops > 0)).length;
            if (vals.length === 0 && failed === 0) continue;
            row.servers[srv] = { median: median(vals), min: Math.min(...vals), max: Math.max(...vals), n: vals.length, failed };
        }
        const g = group(name);
        row.group = g;
        row.reference = REF[g];
        const node = row.servers[REF[g]];
        row.vs_node = {}; // "vs the reference" (node for the main table)
        for (const srv of SUBJECTS[g]) {
            const s = row.servers[srv];
            if (!s || !node || !(s.median > 0) || !(node.median > 0)) continue;
            row.vs_node[srv] = higher ? s.median / node.median : node.median / s.median;
        }
        if (target) {
            row.target = target;
            const subj = SUBJECTS[g][0];
            const s = row.servers[subj];
            if (target.ratio && row.vs_node[subj] !== undefined) row.met = row.vs_node[subj] >= target.ratio;
            if (target.max !== undefined && s && s.n) row.met = s.median <= target.max;
        }
        rows.push(row);
    }
}

// ------------------------------------------------------------------ table
const cell = (s) => (s ? `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]${s.failed ? ` (${s.failed} failed)` : ''}` : '-');
const figName = (r) => `${r.figure}${r.unit && r.unit !== '/s' ? ` (${r.unit})` : ''}`;
const tgtText = (r, ref) => {
    if (!r.target) return '';
    let tgt = r.target.ratio ? `≥${r.target.ratio}× ${ref}` : `≤${fmt(r.target.max)} ${r.unit}`;
    if (r.met !== undefined) tgt += r.met ? '  met' : '  MISSED';
    return tgt;
};
const table = [['scenario', 'figure', 'iogate', '× node', 'iogate --echo', '× node', 'node', 'target']];
for (const r of rows.filter((x) => x.group === 'main')) {
    table.push([r.scenario, figName(r),
        cell(r.servers.iogate), ratioFmt(r.vs_node.iogate), cell(r.servers.echo), ratioFmt(r.vs_node.echo),
        cell(r.servers.node), tgtText(r, 'node')]);
}
const pyTable = [['scenario', 'figure', 'iogate + workers/python', '× py-sio', 'python-socketio', 'target']];
for (const r of rows.filter((x) => x.group === 'python')) {
    pyTable.push([r.scenario, figName(r), cell(r.servers.pyiogate), ratioFmt(r.vs_node.pyiogate),
        cell(r.servers.pysocketio), tgtText(r, 'py-sio')]);
}
const floorTable = [['scenario', 'figure', 'libzmq alone']];
for (const r of rows.filter((x) => x.group === 'floor')) floorTable.push([r.scenario, figName(r), cell(r.servers.zmq)]);
const printTable = (t) => {
    const widths = t[0].map((_, i) => Math.max(...t.map((row) => [...row[i]].length)));
    const line = (row) => row.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join('  ').trimEnd();
    console.log(line(t[0]));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    let prev = '';
    for (const row of t.slice(1)) {
        const r = [...row];
        if (r[0] === prev) r[0] = ''; else prev = r[0];
        console.log(line(r));
    }
};
const repeats = Math.max(0, ...runs.map((r) => r.repeat));
console.log(`\niogate benchmark — median [min–max] of ${repeats} run(s); "× node": > 1 is better than the Node.js reference`);
console.log(`servers on CPU 0, load generator on CPU 1; ${os.cpus().length} CPUs, ${os.cpus()[0] ? os.cpus()[0].model : ''}, Linux ${os.release()}, Node ${process.version}\n`);
const loads = runs.flatMap((r) => r.result.loadavg || []).filter((x) => x >= 0);
const maxLoad = loads.length ? Math.max(...loads) : 0;
if (maxLoad > 0.7) {
    console.log(`note: other processes were running (1-min load average up to ${maxLoad.toFixed(2)} on ${os.cpus().length} CPUs):`);
    console.log('      throughput and latency are skewed by them; CPU per operation much less so.\n');
}
if (table.length > 1) printTable(table);
if (pyTable.length > 1) {
    console.log('\nPython: gateway + workers/python (bench/py_iogate.py) vs python-socketio 5 on aiohttp (bench/py_socketio.py), same echo handler');
    printTable(pyTable);
}
if (floorTable.length > 1) {
    console.log('\nThe floor: ZeroMQ alone (iogate-zmq-floor), ROUTER ⇄ DEALER in two processes, CPU of every thread of both');
    printTable(floorTable);
}

// The full path against the transport baseline (target: within 2×).
const full = [];
for (const r of rows.filter((x) => ['echo', 'echo-1k'].includes(x.scenario) && x.servers.iogate && x.servers.echo)) {
    const a = r.servers.iogate.median, b = r.servers.echo.median;
    if (!(a > 0 && b > 0)) continue;
    const f = r.better === 'higher' ? b / a : a / b;
    full.push({ scenario: r.scenario, figure: r.figure, factor: f, met: f <= 2 });
    console.log(`full path vs --echo: ${r.scenario} ${r.figure}: ${f.toFixed(2)}× the baseline (target ≤2×${f <= 2 ? ', met' : ', MISSED'})`);
}

// How much of iogate's CPU per round trip libzmq alone costs at the same
// load shape: fixed-rate (20k/s) against the floor at 20k/s, echo (400 in
// flight) against the floor saturated with 400 in flight.
const floorShare = [];
const med = (scen, srv, fig) => {
    const r = rows.find((x) => x.scenario === scen && x.figure === fig);
    return r && r.servers[srv] ? r.servers[srv].median : NaN;
};
for (const [scen, floor, fig] of [['fixed-rate', 'zmq-floor', 'server CPU/message'], ['echo', 'zmq-floor-sat', 'server CPU/round trip']]) {
    const full = med(scen, 'iogate', fig), z = med(floor, 'zmq', 'CPU/round trip, both processes');
    if (!(full > 0 && z > 0)) continue;
    floorShare.push({ scenario: scen, floor, iogate_cpu_us: full, zmq_cpu_us: z, share: z / full });
    console.log(`floor: ${scen}: libzmq alone ${fmt(z)} µs of iogate's ${fmt(full)} µs per round trip (${(100 * z / full).toFixed(0)}%; ${floor})`);
    // A gateway that falls behind batches, and then pays less per message
    // than the floor, which keeps up and pays every wake-up: not comparable.
    const p50 = med(scen, 'iogate', 'p50 latency');
    if (scen === 'fixed-rate' && p50 > 1000)
        console.log(`       iogate was behind (p50 ${fmt(p50)} µs) and batched: compare on a quiet machine`);
}
// Where the floor's CPU goes, by thread (median over the runs of each kind).
const floorThreads = {};
for (const scen of ['zmq-floor', 'zmq-floor-sat']) {
    const per = {};
    for (const r of runs.filter((x) => x.name === scen && x.result.ops > 0)) {
        for (const t of (r.result.server && r.result.server.threads) || []) {
            const kind = `${t.process} ${t.main ? 'main' : t.thread}`;
            (per[kind] = per[kind] || []).push(t.cpu_us_per_op);
        }
    }
    const kinds = Object.keys(per).sort().filter((k) => k.endsWith(' main') || median(per[k]) > 0);
    if (!kinds.length) continue;
    floorThreads[scen] = Object.fromEntries(kinds.map((k) => [k, median(per[k])]));
    console.log(`floor: ${scen} by thread (µs/round trip): ${kinds.map((k) => `${k} ${fmt(median(per[k]))}`).join(', ')}`);
}

const out = {
    generated: new Date().toISOString(),
    host: { cpus: os.cpus().length, model: os.cpus()[0] && os.cpus()[0].model, kernel: os.release(), node: process.version },
    repeat: repeats, max_loadavg: maxLoad, rows, full_path_vs_echo: full,
    floor_share: floorShare, floor_threads: floorThreads,
    runs: runs.map((r) => ({ scenario: r.name, server: r.server, repeat: r.repeat, result: r.result })),
};
fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
console.log(`\nresults: ${outFile}`);
