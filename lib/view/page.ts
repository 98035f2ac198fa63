/**
 * The browser view's page: one HTML document with its script inline (nothing else is served,
 * nothing is fetched from elsewhere). It opens the WebSocket with the page's own token, decodes
 * the H.264 stream with WebCodecs (Annex B, the decoder configured from the codec the server
 * read off the SPS), draws each picture on a canvas scaled to the window, and sends the
 * keyboard and pointer back. `window.pixelrtsView` exposes counters for scripts and tests.
 */
export const VIEW_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pixelrts view</title>
<style>
  html, body { margin: 0; height: 100%; background: #111; color: #ccc; font: 13px sans-serif; overflow: hidden; }
  canvas { position: absolute; inset: 0; margin: auto; max-width: 100%; max-height: 100%; width: 100%; height: 100%;
           object-fit: contain; image-rendering: pixelated; outline: none; cursor: crosshair; }
  #status { position: absolute; left: 8px; bottom: 6px; opacity: 0.7; pointer-events: none; }
</style>
</head>
<body>
<canvas id="screen" tabindex="0" width="640" height="400"></canvas>
<div id="status">connecting…</div>
<script>
"use strict";
(() => {
  const canvas = document.getElementById('screen');
  const ctx = canvas.getContext('2d');
  const status = document.getElementById('status');
  const view = window.pixelrtsView = { frames: 0, bytes: 0, decoded: 0, width: 0, height: 0, codec: '', error: null, closed: false };
  const say = (text) => { status.textContent = text; };
  if (typeof VideoDecoder !== 'function') {
    view.error = 'this browser has no WebCodecs (VideoDecoder): use a current Chromium, Chrome, Edge or Firefox, on http://127.0.0.1';
    say(view.error);
    return;
  }
  const token = new URLSearchParams(location.search).get('token') || '';
  const ws = new WebSocket('ws://' + location.host + '/ws?token=' + encodeURIComponent(token));
  ws.binaryType = 'arraybuffer';
  let decoder = null;
  const send = (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
  ws.onopen = () => say('waiting for the screen…');
  ws.onclose = () => { view.closed = true; say('disconnected: the VM stopped or the view was closed'); };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'config') {
        if (decoder) decoder.close();
        view.codec = msg.codec;
        decoder = new VideoDecoder({
          output: (frame) => {
            if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
              canvas.width = frame.displayWidth;
              canvas.height = frame.displayHeight;
            }
            ctx.drawImage(frame, 0, 0);
            view.width = frame.displayWidth;
            view.height = frame.displayHeight;
            view.decoded++;
            frame.close();
            say(view.width + '×' + view.height + ', ' + view.decoded + ' frames');
          },
          error: (e) => { view.error = String(e && e.message || e); say('decoder: ' + view.error); },
        });
        decoder.configure({ codec: msg.codec, optimizeForLatency: true });
      }
      return;
    }
    // A frame: 1 byte flags (1 = keyframe), 8 bytes timestamp (µs, little endian), the access unit.
    if (!decoder || decoder.state !== 'configured') return;
    const head = new DataView(ev.data, 0, 9);
    view.frames++;
    view.bytes += ev.data.byteLength;
    decoder.decode(new EncodedVideoChunk({
      type: head.getUint8(0) & 1 ? 'key' : 'delta',
      timestamp: Number(head.getBigUint64(1, true)),
      data: new Uint8Array(ev.data, 9),
    }));
  };

  // Pointer: pixel coordinates of the guest's screen, whatever the canvas is scaled to.
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    const scale = Math.min(r.width / canvas.width, r.height / canvas.height);
    const left = r.left + (r.width - canvas.width * scale) / 2;
    const top = r.top + (r.height - canvas.height * scale) / 2;
    return { x: Math.round((e.clientX - left) / scale), y: Math.round((e.clientY - top) / scale) };
  };
  const pointer = (e) => {
    e.preventDefault();
    const { x, y } = at(e);
    if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return;
    send({ type: 'pointer', x, y, width: canvas.width, height: canvas.height, buttons: e.buttons });
  };
  canvas.addEventListener('mousemove', pointer);
  canvas.addEventListener('mousedown', (e) => { canvas.focus(); pointer(e); });
  canvas.addEventListener('mouseup', pointer);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  const key = (down) => (e) => { e.preventDefault(); send({ type: 'key', code: e.code, down }); };
  window.addEventListener('keydown', key(true));
  window.addEventListener('keyup', key(false));
  canvas.focus();
})();
</script>
</body>
</html>
`;
