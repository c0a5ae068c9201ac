// reference.js — the Node.js socket.io 4.8 server that `make bench` measures
// iogate against.  Same handlers as examples/bench/bench.c:
//   "echo" (args…)          emit "echo" (args…) back; ack (args…) if asked
//   "join" (room)           join room, emit "joined" (room)
//   "bcast" (room, payload) io.to(room).emit("b", payload)
// Usage: node bench/reference.js PORT [HOST] [NAMESPACE]
// BENCH_TLS_CERT and BENCH_TLS_KEY (PEM files): serve HTTPS/WSS instead.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 3000);
const host = process.argv[3] || '127.0.0.1';
const nspName = process.argv[4] || '/';

const { BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key } = process.env;
const httpServer = cert && key
    ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) })
    : http.createServer();
// Defaults otherwise: both transports, no per-message deflate, 25 s pings.
const io = new Server(httpServer, { serveClient: false });

io.of(nspName).on('connection', (socket) => {
    const nsp = socket.nsp;
    socket.on('echo', (...args) => {
        const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        socket.emit('echo', ...args);
        if (ack) ack(...args);
    });
    socket.on('join', (room) => {
        socket.join(room);
        socket.emit('joined', room);
    });
    socket.on('bcast', (room, payload) => {
        nsp.to(room).emit('b', payload);
    });
});

httpServer.listen(port, host, () => {
    process.stderr.write(`reference: socket.io 4.8 on ${host}:${port}${nspName}\n`);
});
const stop = () => { io.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
