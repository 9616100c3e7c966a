// An independent WebSocket server for geventws' interop tests: Node's `ws`.
// Prints "PORT <n>" once listening; exits when stdin closes. Routes by path:
//   /close/<code>/<reason>  close at once with that code and reason
//   /ping                   ping with payload "hello", then send "pong received" when the pong arrives
//   anything else           echo every message (text as text, binary as binary)
"use strict";
const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 64 * 1024 * 1024 });

wss.on("connection", (ws, request) => {
  const path = request.url || "/";
  if (path.startsWith("/close/")) {
    const [, , code, reason] = path.split("/");
    ws.close(Number(code), decodeURIComponent(reason || ""));
    return;
  }
  if (path.startsWith("/ping")) {
    ws.on("pong", (data) => ws.send(`pong received: ${data.toString()}`));
    ws.ping("hello");
  }
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

wss.on("listening", () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
