// A real HTTP server that is not ours for the remote tests: Debian's nginx on a free loopback
// port, serving a directory, stopped with the test. And a fault proxy in front of it.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

/** A free TCP port on 127.0.0.1 (released before it is returned). */
export async function freePort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts nginx serving `root` (made world-readable: its workers drop root); resolves with its URL. */
export async function startNginx(t, root) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-nginx-'));
  t.teardown(() => fs.rmSync(prefix, { recursive: true, force: true }));
  fs.chmodSync(root, 0o755);
  for (const f of fs.readdirSync(root)) fs.chmodSync(path.join(root, f), 0o644);
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`);
  // Its own process group, killed whole: a worker outlives a master killed alone.
  const nginx = spawn('nginx', ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  nginx.stderr.on('data', (d) => { stderr += d; });
  const stop = () => new Promise((resolve) => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return resolve();
    nginx.once('exit', () => resolve());
    try {
      process.kill(-nginx.pid, 'SIGKILL');
    } catch {
      resolve();  // the group is gone already
    }
  });
  t.teardown(stop);
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) {
      return {
        url: `http://127.0.0.1:${port}`,
        accessLog: () => fs.readFileSync(path.join(prefix, 'access.log'), 'utf8'),
        /** Stops the server before the test ends (a server that has gone away). */
        stop,
      };
    }
    if (nginx.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start: ${stderr}`);
}

/**
 * A TCP proxy to `port` that misbehaves per connection: `fault(n)` for the n-th connection
 * returns { cutAfter: bytes } (close the response after that many bytes), { stallAfter: bytes }
 * (stop sending, keep the connection open), or null (pass everything).
 */
export async function startFaultProxy(t, port, fault) {
  let n = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const f = fault(n++);
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (f?.cutAfter !== undefined && sent + d.length >= f.cutAfter) {
        client.end(d.subarray(0, Math.max(0, f.cutAfter - sent)));
        client.destroy();
        upstream.destroy();
        return;
      }
      if (f?.stallAfter !== undefined && sent + d.length >= f.stallAfter) {
        client.write(d.subarray(0, Math.max(0, f.stallAfter - sent)));
        sent = Infinity;
        upstream.pause();
        return;
      }
      if (sent === Infinity) return;
      sent += d.length;
      client.write(d);
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('end', () => client.end());
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { url: `http://127.0.0.1:${server.address().port}`, connections: () => n };
}
