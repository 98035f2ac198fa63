// --record DIR against a hostile local user (#16, finding 1): a planted link is replaced, never
// written through; recordings are private; a directory others can write to, or another user's,
// is refused before anything listens.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { HxfrClient, solidFrame } from '../helpers/hxfr-client.mjs';
import { otherUser, otherUserMissing, runAsOtherUser } from '../helpers/other-user.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');

const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg'));
const asOther = needs(test, otherUserMissing());

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-frames-record-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

withFfmpeg('a link planted as conn-1.h264 is replaced, not written through; the recording is a private file', async (t) => {
  const dir = tempDir(t);
  const rec = path.join(dir, 'rec');
  fs.mkdirSync(rec, { mode: 0o700 });
  const victim = path.join(dir, 'precious');
  fs.writeFileSync(victim, 'precious bytes');
  fs.symlinkSync(victim, path.join(rec, 'conn-1.h264'));
  const server = await createFrameServer({ tcp: 0, record: rec });
  t.teardown(() => server.close());
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  await c.request({ ...solidFrame('NV12', 64, 48, [10, 20, 30]), pts: 0n });
  await server.close();
  t.is(fs.readFileSync(victim, 'utf8'), 'precious bytes');
  const st = fs.lstatSync(path.join(rec, 'conn-1.h264'));
  t.true(st.isFile(), 'the recording is a regular file, not the planted link');
  t.is(st.mode & 0o777, 0o600);
  t.true(st.size > 0);
});

test('a record directory others can write to, or a link to one, is refused before anything listens', async (t) => {
  const dir = tempDir(t);
  const open = path.join(dir, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  const err = await t.throwsAsync(createFrameServer({ tcp: 0, record: open }));
  t.is(err.code, 'ERR_PIXELRTS_FRAMES_RECORD');
  t.regex(err.message, /refusing to record into .*open: others can write to it \(mode 0777\)/);
  const link = path.join(dir, 'link');
  fs.mkdirSync(path.join(dir, 'mine'), { mode: 0o700 });
  fs.symlinkSync(path.join(dir, 'mine'), link);
  const linkErr = await t.throwsAsync(createFrameServer({ tcp: 0, record: link }));
  t.is(linkErr.code, 'ERR_PIXELRTS_FRAMES_RECORD');
  t.regex(linkErr.message, /a symbolic link is refused/);
});

asOther('another local user\'s record directory, with a link planted in it, is refused and nothing is written', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o1777);  // shared like /tmp
  const victim = path.join(dir, 'precious');
  fs.writeFileSync(victim, 'precious bytes');
  // The other user makes the directory the CLI's example names and plants the link in it.
  const theirs = path.join(dir, 'frames');
  const planted = await runAsOtherUser(`const fs = require('fs');
    fs.mkdirSync(process.argv[1], { mode: 0o755 });
    fs.symlinkSync(process.argv[2], process.argv[1] + '/conn-1.h264');
    console.log('planted');`, [theirs, victim]);
  t.is(planted.stdout.trim(), 'planted', planted.stderr);
  const err = await t.throwsAsync(createFrameServer({ tcp: 0, record: theirs }));
  t.is(err.code, 'ERR_PIXELRTS_FRAMES_RECORD');
  t.regex(err.message, new RegExp(`belongs to uid ${otherUser().uid}, not to this user`));
  t.is(fs.readFileSync(victim, 'utf8'), 'precious bytes');
});
