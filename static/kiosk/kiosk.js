// Kiosk screen: sends camera frames to the server, which judges every step; draws a live skeleton
// from @mediapipe/pose (served locally) and shows what to do next.
(() => {
  const cfg = window.KIOSK;
  const TOKEN_KEY = 'faceplatform.kioskToken';
  const $ = (id) => document.getElementById(id);
  const video = $('camera');
  const overlay = $('overlay');
  const ctx = overlay.getContext('2d');
  const grab = document.createElement('canvas');
  const state = { token: localStorage.getItem(TOKEN_KEY), session: null, busy: false, last: null,
    scale: 1, landmarks: null };
  // Read by the browser tests; harmless in production.
  window.kioskDebug = { framesSent: 0, poseResults: 0, lastState: null, errors: [] };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const uuid = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now()}-${Math.random().toString(16).slice(2)}`);

  async function api(path, options = {}) {
    const headers = { 'X-Kiosk-Token': state.token, 'Accept-Language': cfg.lang,
      Accept: 'application/json', ...(options.headers || {}) };
    const response = await fetch(`/api/v1/kiosk${path}`, { ...options, headers });
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    return { status: response.status, body };
  }

  function showSetup(error) {
    $('screen').hidden = true;
    $('setup').hidden = false;
    $('setup-error').textContent = error || '';
  }

  $('setup-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    state.token = $('token-input').value.trim();
    const check = await api('/config');
    if (check.status !== 200) {
      showSetup(cfg.text.badToken);
      return;
    }
    localStorage.setItem(TOKEN_KEY, state.token);
    start();
  });

  $('forget').addEventListener('click', () => {
    localStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  });

  $('direction').addEventListener('click', async () => {
    if (!state.last || !state.session) return;
    const next = state.last.direction === 'check_out' ? 'check_in' : 'check_out';
    const result = await api(`/sessions/${state.session}/direction`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ direction: next }),
    });
    if (result.status === 200) render(result.body);
  });

  async function newSession() {
    const result = await api('/sessions', { method: 'POST' });
    if (result.status === 401) { showSetup(cfg.text.badToken); return; }
    state.session = result.body.session_id;
    render(result.body);
  }

  async function start() {
    if (!state.token) { showSetup(); return; }
    const config = await api('/config').catch(() => null);
    if (!config || config.status === 401) { showSetup(config ? cfg.text.badToken : ''); return; }
    $('setup').hidden = true;
    $('screen').hidden = false;
    $('kiosk-name').textContent = config.body.kiosk;
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      await video.play();
    } catch (error) {
      $('message').textContent = cfg.text.noCamera;
      window.kioskDebug.errors.push(String(error));
      return;
    }
    await newSession();
    startPose();
    frameLoop();
  }

  async function frameLoop() {
    const interval = 1000 / (cfg.fps || 4);
    for (;;) {
      const started = performance.now();
      await sendFrame();
      await sleep(Math.max(0, interval - (performance.now() - started)));
    }
  }

  async function sendFrame() {
    if (!state.session || video.readyState < 2 || !video.videoWidth) return;
    state.scale = Math.min(1, 640 / video.videoWidth);
    grab.width = Math.round(video.videoWidth * state.scale);
    grab.height = Math.round(video.videoHeight * state.scale);
    grab.getContext('2d').drawImage(video, 0, 0, grab.width, grab.height);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, 'image/jpeg', 0.85));
    const body = new FormData();
    body.append('frame', blob, 'frame.jpg');
    try {
      const result = await api(`/sessions/${state.session}/frames`, {
        method: 'POST', body, headers: { 'Idempotency-Key': uuid() },
      });
      window.kioskDebug.framesSent += 1;
      if (result.status === 200) render(result.body);
      else if (result.status === 404) await newSession();
      else if (result.status === 401) showSetup(cfg.text.badToken);
      else if (result.status === 503) $('message').textContent = cfg.text.loading;
      else if (result.body) window.kioskDebug.errors.push(result.body.message);
    } catch (error) {
      $('message').textContent = cfg.text.offline;
      window.kioskDebug.errors.push(String(error));
      await sleep(1000);
    }
  }

  function render(view) {
    state.last = view;
    window.kioskDebug.lastState = view;
    $('who').textContent = view.employee ? view.employee.name : '';
    $('message').textContent = view.message;
    const steps = $('steps');
    steps.replaceChildren();
    if (view.phase === 'challenge') {
      view.challenge.forEach((gesture, index) => {
        const item = document.createElement('li');
        item.textContent = `${index + 1}. ${cfg.hints[gesture] || gesture}`;
        item.dataset.gesture = gesture;
        if (index < view.step) item.className = 'done';
        else if (index === view.step) item.className = 'current';
        steps.append(item);
      });
    }
    const toggle = $('direction');
    toggle.hidden = view.phase !== 'challenge';
    const other = view.direction === 'check_out' ? cfg.text.checkIn : cfg.text.checkOut;
    toggle.textContent = `${cfg.text.switchTo}: ${other}`;
    const result = $('result');
    const finished = ['done', 'cancelled', 'failed', 'unknown'].includes(view.phase);
    result.hidden = !finished;
    result.className = `result ${view.phase === 'done' ? 'ok' : 'bad'}`;
    result.textContent = finished ? view.message : '';
    draw();
  }

  function draw() {
    if (!video.videoWidth) return;
    overlay.width = video.videoWidth;
    overlay.height = video.videoHeight;
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const view = state.last;
    if (view && view.face_box) {
      const [x, y, w, h] = view.face_box.map((v) => v / state.scale);
      ctx.lineWidth = 4;
      ctx.strokeStyle = view.employee ? '#4caf50' : '#ffb300';
      ctx.strokeRect(x, y, w, h);
    }
    const points = state.landmarks;
    if (!points) return;
    const px = (p) => [p.x * overlay.width, p.y * overlay.height];
    ctx.lineWidth = 5;
    ctx.strokeStyle = 'rgba(120, 200, 255, 0.9)';
    for (const [a, b] of window.POSE_CONNECTIONS || []) {
      if ((points[a].visibility ?? 1) < 0.3 || (points[b].visibility ?? 1) < 0.3) continue;
      const [ax, ay] = px(points[a]);
      const [bx, by] = px(points[b]);
      ctx.beginPath();
      ctx.moveTo(ax, ay);
      ctx.lineTo(bx, by);
      ctx.stroke();
    }
    ctx.fillStyle = '#ffffff';
    for (const point of points) {
      if ((point.visibility ?? 1) < 0.3) continue;
      const [x, y] = px(point);
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  function startPose() {
    if (!window.Pose) return; // the skeleton is a help for the user; the server judges anyway
    const pose = new window.Pose({ locateFile: (file) => cfg.poseBase + file });
    pose.setOptions({ modelComplexity: 1, smoothLandmarks: true, minDetectionConfidence: 0.5,
      minTrackingConfidence: 0.5 });
    pose.onResults((results) => {
      state.landmarks = results.poseLandmarks || null;
      window.kioskDebug.poseResults += 1;
      draw();
    });
    (async () => {
      for (;;) {
        try {
          if (video.readyState >= 2) await pose.send({ image: video });
        } catch (error) {
          window.kioskDebug.errors.push(`pose: ${error}`);
          await sleep(2000);
        }
        await sleep(30);
      }
    })();
  }

  start();
})();
