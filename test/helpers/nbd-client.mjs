// A small NBD client (fixed newstyle handshake, NBD_OPT_GO, simple replies) for the tests and
// the bench: reads and writes at any offset, pipelined, with the server's errno per request,
// which nbdcopy and qemu-img do not show (they stop at the first error). The protocol is
// https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md.
import net from 'node:net';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const OPT_GO = 7;
const REP_ACK = 1;
const REP_INFO = 3;
const INFO_EXPORT = 0;
const CMD_READ = 0;
const CMD_WRITE = 1;
const CMD_DISC = 2;
/** Transmission flags (NBD_FLAG_*). */
export const FLAG_READ_ONLY = 1 << 1;
export const FLAG_CAN_MULTI_CONN = 1 << 8;

/** NBD error numbers, by name. */
export const NBD_ERRNO = { 1: 'EPERM', 5: 'EIO', 12: 'ENOMEM', 22: 'EINVAL', 28: 'ENOSPC', 75: 'EOVERFLOW', 95: 'ENOTSUP', 108: 'ESHUTDOWN' };

export class NbdClient {
  /** Connects to `host:port` and opens the export `name` ('' for the default). */
  static async connect(host, port, name = '') {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const c = new NbdClient(socket);
    await c.#handshake(name);
    return c;
  }

  #socket;
  #buf = Buffer.alloc(0);
  #wanted = null;  // handshake: { n, resolve }
  #pending = new Map();
  #next = 1n;
  #closed = null;
  size = 0;
  flags = 0;

  constructor(socket) {
    this.#socket = socket;
    socket.on('data', (d) => this.#data(d));
    const fail = (err) => {
      this.#closed = err ?? new Error('the NBD server closed the connection');
      for (const p of this.#pending.values()) p.reject(this.#closed);
      this.#pending.clear();
      this.#wanted?.reject(this.#closed);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(this.#closed));
  }

  #take(n) {
    return new Promise((resolve, reject) => {
      this.#wanted = { n, resolve, reject };
      this.#data(Buffer.alloc(0));
    });
  }

  #data(d) {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    if (this.#wanted) {
      if (this.#buf.length >= this.#wanted.n) {
        const { n, resolve } = this.#wanted;
        this.#wanted = null;
        const out = this.#buf.subarray(0, n);
        this.#buf = this.#buf.subarray(n);
        resolve(out);
      }
      return;
    }
    // Transmission: simple replies, each followed by its data for a read that succeeded.
    while (this.#buf.length >= 16) {
      if (this.#buf.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) {
        this.#socket.destroy(new Error('NBD: a reply without the simple reply magic'));
        return;
      }
      const error = this.#buf.readUInt32BE(4);
      const handle = this.#buf.readBigUInt64BE(8);
      const p = this.#pending.get(handle);
      if (!p) { this.#socket.destroy(new Error(`NBD: a reply to unknown handle ${handle}`)); return; }
      const dataLength = p.read && error === 0 ? p.length : 0;
      if (this.#buf.length < 16 + dataLength) return;
      const data = Buffer.from(this.#buf.subarray(16, 16 + dataLength));
      this.#buf = this.#buf.subarray(16 + dataLength);
      this.#pending.delete(handle);
      if (error === 0) p.resolve(data);
      else p.reject(Object.assign(new Error(`NBD ${NBD_ERRNO[error] ?? error}`), { errno: error, code: NBD_ERRNO[error] ?? String(error) }));
    }
  }

  async #handshake(name) {
    const hello = await this.#take(18);
    if (hello.readBigUInt64BE(0) !== NBDMAGIC || hello.readBigUInt64BE(8) !== IHAVEOPT) throw new Error('NBD: not a newstyle server');
    const serverFlags = hello.readUInt16BE(16);
    const clientFlags = Buffer.alloc(4);
    clientFlags.writeUInt32BE(serverFlags & 3);
    const nameBytes = Buffer.from(name);
    const opt = Buffer.alloc(16 + 4 + nameBytes.length + 2);
    opt.writeBigUInt64BE(IHAVEOPT, 0);
    opt.writeUInt32BE(OPT_GO, 8);
    opt.writeUInt32BE(4 + nameBytes.length + 2, 12);
    opt.writeUInt32BE(nameBytes.length, 16);
    nameBytes.copy(opt, 20);
    opt.writeUInt16BE(0, 20 + nameBytes.length);
    this.#socket.write(Buffer.concat([clientFlags, opt]));
    for (;;) {
      const head = await this.#take(20);
      if (head.readBigUInt64BE(0) !== REPLY_MAGIC) throw new Error('NBD: bad option reply magic');
      const type = head.readUInt32BE(12);
      const data = await this.#take(head.readUInt32BE(16));
      if (type === REP_ACK) break;
      if (type === REP_INFO && data.readUInt16BE(0) === INFO_EXPORT) {
        this.size = Number(data.readBigUInt64BE(2));
        this.flags = data.readUInt16BE(10);
      } else if (type & 0x80000000) {
        throw Object.assign(new Error(`NBD: the server refused export "${name}": ${data.toString()}`), { reply: type });
      }
    }
    // Whatever came after the handshake belongs to transmission.
    this.#data(Buffer.alloc(0));
  }

  #request(type, offset, length, payload) {
    if (this.#closed) return Promise.reject(this.#closed);
    const handle = this.#next++;
    const head = Buffer.alloc(28);
    head.writeUInt32BE(REQUEST_MAGIC, 0);
    head.writeUInt16BE(0, 4);
    head.writeUInt16BE(type, 6);
    head.writeBigUInt64BE(handle, 8);
    head.writeBigUInt64BE(BigInt(offset), 16);
    head.writeUInt32BE(length, 24);
    const done = new Promise((resolve, reject) => this.#pending.set(handle, { resolve, reject, length, read: type === CMD_READ }));
    this.#socket.write(payload ? Buffer.concat([head, payload]) : head);
    return done;
  }

  /** Bytes [offset, offset + length); rejects with { code: 'EIO', ... } when the server says so. */
  read(offset, length) {
    return this.#request(CMD_READ, offset, length);
  }

  /** Writes `data` at `offset`. */
  write(offset, data) {
    return this.#request(CMD_WRITE, offset, data.length, data);
  }

  /** Ends the session (NBD_CMD_DISC) and the connection. */
  async close() {
    if (!this.#closed) {
      const head = Buffer.alloc(28);
      head.writeUInt32BE(REQUEST_MAGIC, 0);
      head.writeUInt16BE(CMD_DISC, 6);
      this.#socket.end(head);
    }
    await new Promise((resolve) => (this.#socket.closed ? resolve() : this.#socket.once('close', resolve)));
  }
}
