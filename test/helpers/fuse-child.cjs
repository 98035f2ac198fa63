// A process (spawned by test/fuse/lifecycle.test.mjs) that mounts a payload at argv[2] and
// then ends at the stage named by argv[3]. It prints progress lines the test waits for.
const fs = require('node:fs');
const path = require('node:path');
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

const dist = path.join(__dirname, '..', '..', 'dist');
const { mountTable, findFusermount } = require(path.join(dist, 'fuse', 'mount.js'));
const { native } = require(path.join(dist, 'native.js'));

const SIZE = 16 << 20;

function table() {
  const bytes = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 4096) bytes.writeUInt32LE(i, i);
  return { payload: native().payloadFromBuffer(bytes), files: [{ path: '/f', extents: [[0, SIZE]] }],
    mtimeMs: Date.now(), fsname: 'pixelrts:child' };
}

function mountedUnder(dir) {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

// Readers that keep the FUSE threads busy: O_DIRECT so every read reaches the server.
function startReaders(dir, n) {
  const code = `
    const fs = require('node:fs');
    const fd = fs.openSync(${JSON.stringify(path.join(dir, 'f'))}, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    const buf = Buffer.alloc(1 << 20);
    for (let off = 0; ; off = (off + (1 << 20)) % ${SIZE}) { try { fs.readSync(fd, buf, 0, buf.length, off); } catch { break; } }`;
  for (let i = 0; i < n; i++) new Worker(code, { eval: true }).on('error', () => {});
}

async function main(dir, stage) {
  if (!isMainThread) {
    const m = await mountTable(table(), dir);
    fs.readFileSync(path.join(dir, 'f'));
    parentPort.postMessage('mounted');
    if (workerData.stage === 'worker-exit') process.exit(0);  // ends this worker only
    globalThis.keep = m;
    setInterval(() => {}, 1000);
    return;
  }
  if (stage === 'worker-terminate' || stage === 'worker-exit') {
    const w = new Worker(__filename, { argv: [dir, stage], workerData: { stage } });
    await new Promise((resolve) => w.once('message', resolve));
    if (stage === 'worker-terminate') await w.terminate();
    else await new Promise((resolve) => w.once('exit', resolve));
    console.log(mountedUnder(dir) ? 'left mounted' : 'clean');
    return;
  }
  if (stage === 'gc') {
    await (async () => { await mountTable(table(), dir); })();  // nobody keeps the Mount
    console.log('mounted');
    for (let i = 0; i < 100 && mountedUnder(dir); i++) {
      global.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(mountedUnder(dir) ? 'left mounted' : 'clean');
    return;
  }
  if (stage === 'native-mounting') {
    // The native mount is under way (fusermount3 running) when the process exits.
    const t = table();
    new (native().FuseMount)({ mountpoint: dir, helper: findFusermount(), mtimeMs: 0, payload: t.payload, files: t.files }, () => {});
    process.exit(0);
  }
  const pending = mountTable(table(), dir);
  if (stage === 'mounting') {
    // The checks are done and the native mount has started by the next macrotask.
    setImmediate(() => process.exit(0));
    return;
  }
  const m = await pending;
  console.log('mounted');
  switch (stage) {
    case 'hold':  // the parent sends SIGKILL
      setInterval(() => {}, 1000);
      break;
    case 'readers':
      startReaders(dir, 4);
      for (let i = 0; i < 4; i++) fs.readFile(path.join(dir, 'f'), () => {});
      setTimeout(() => process.exit(0), 200);
      break;
    case 'unmounting':
      m.unmount();
      process.exit(0);
      break;
    case 'unmount-with-readers':
      startReaders(dir, 4);
      setTimeout(() => m.unmount().then(() => console.log(mountedUnder(dir) ? 'left mounted' : 'clean')), 200);
      break;
    case 'natural':
      break;  // nothing keeps the event loop alive: the process ends by itself
    case 'throw':
      throw new Error('uncaught on purpose');
    default:
      throw new Error(`unknown stage ${stage}`);
  }
}

main(...(isMainThread ? process.argv.slice(2) : workerData.argv ?? process.argv.slice(2)));
