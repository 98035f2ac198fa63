// A small RFB 3.8 server on a Unix socket, for tests and the benchmark: it speaks the
// handshake QEMU does (security None, ServerInit) and then lets its caller write whatever
// server messages it likes, well-formed or not.
import net from 'node:net';

/** A FramebufferUpdate header for `rects` rectangles. */
export function updateHeader(rects) {
  const b = Buffer.alloc(4);
  b.writeUInt8(0, 0);
  b.writeUInt16BE(rects, 2);
  return b;
}

/** A rectangle header: x, y, w, h and the encoding (0 Raw, 1 CopyRect, -223 DesktopSize). */
export function rectHeader(x, y, w, h, encoding) {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(x, 0);
  b.writeUInt16BE(y, 2);
  b.writeUInt16BE(w, 4);
  b.writeUInt16BE(h, 6);
  b.writeInt32BE(encoding, 8);
  return b;
}

/** A whole-screen Raw update of w x h BGRX pixels. */
export function rawUpdate(w, h, pixels) {
  return Buffer.concat([updateHeader(1), rectHeader(0, 0, w, h, 0), pixels]);
}

/**
 * Listens on `path`; for each client: the handshake with a `width` x `height` screen, then
 * `session(socket, client)` where `client.messages` collects what the client sent after the
 * handshake (SetPixelFormat, SetEncodings, FramebufferUpdateRequests) as raw bytes and
 * `client.requests()` resolves with the count of update requests so far once it grows.
 * Resolves with { close(), connections(), accepted() } once listening (connections now, and ever).
 */
export async function serveRfb(path, { width = 64, height = 32, version = 'RFB 003.008\n', security = [1] } = {}, session = () => {}) {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let stage = 'version';
    let input = Buffer.alloc(0);
    const client = { requests: 0, waiters: [] };
    client.nextRequest = () => new Promise((resolve) => client.waiters.push(resolve));
    socket.write(version);
    socket.on('data', (chunk) => {
      input = Buffer.concat([input, chunk]);
      for (;;) {
        if (stage === 'version') {
          if (input.length < 12) return;
          input = input.subarray(12);
          socket.write(Buffer.from([security.length, ...security]));
          stage = 'security';
        } else if (stage === 'security') {
          if (input.length < 1) return;
          input = input.subarray(1);
          socket.write(Buffer.from([0, 0, 0, 0]));
          stage = 'init';
        } else if (stage === 'init') {
          if (input.length < 1) return;
          input = input.subarray(1);
          const name = Buffer.from('fake');
          const init = Buffer.alloc(24);
          init.writeUInt16BE(width, 0);
          init.writeUInt16BE(height, 2);
          init.writeUInt32BE(name.length, 20);
          socket.write(Buffer.concat([init, name]));
          stage = 'messages';
          Promise.resolve(session(socket, client)).catch(() => socket.destroy());
        } else {
          // Client messages: SetPixelFormat (20 bytes), SetEncodings (4 + 4n), FramebufferUpdateRequest (10).
          if (input.length < 1) return;
          const type = input[0];
          const size = type === 0 ? 20 : type === 2 ? (input.length >= 4 ? 4 + 4 * input.readUInt16BE(2) : Infinity) : type === 3 ? 10 : 1;
          if (input.length < size) return;
          input = input.subarray(size);
          if (type === 3) {
            client.requests++;
            for (const w of client.waiters.splice(0)) w(client.requests);
          }
        }
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return {
    connections: () => sockets.size,
    accepted: () => accepted,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
