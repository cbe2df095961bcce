// Kiosk screen: sends camera frames to the server, which judges every step, and draws the
// skeleton the server found in each frame. Nothing heavy runs on the page's main thread, so a weak
// kiosk PC keeps sending frames. The in-browser pose (@mediapipe/pose, served locally) is off
// unless KIOSK_BROWSER_POSE is set; then it runs at a low rate, only between frames, for a
// smoother skeleton.
(() => {
  const cfg = JSON.parse(document.getElementById('kiosk-config').textContent);
  const TOKEN_KEY = 'faceplatform.kioskToken';
  const BROWSER_POSE_INTERVAL = 1500; // ms between in-browser pose runs (when switched on)
  const BROWSER_POSE_MAX_MS = 300; // a slower run switches the in-browser pose off for good
  const $ = (id) => document.getElementById(id);
  const video = $('camera');
  const overlay = $('overlay');
  const ctx = overlay.getContext('2d');
  const grab = document.createElement('canvas');
  const state = { token: localStorage.getItem(TOKEN_KEY), session: null, last: null, scale: 1,
    landmarks: null, deadline: null };
  // Read by the browser tests; harmless in production.
  window.kioskDebug = { framesSent: 0, skeletons: 0, poseResults: 0, lastState: null, errors: [] };

  // MediaPipe's pose connections (33 landmarks): face, arms, body, legs.
  const CONNECTIONS = [[0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10],
    [11, 12], [11, 13], [13, 15], [15, 17], [15, 19], [15, 21], [17, 19], [12, 14], [14, 16],
    [16, 18], [16, 20], [16, 22], [18, 20], [11, 23], [12, 24], [23, 24], [23, 25], [24, 26],
    [25, 27], [26, 28], [27, 29], [28, 30], [29, 31], [30, 32], [27, 31], [28, 32]];

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

  async function pair(token) {
    state.token = token.trim();
    const check = await api('/config').catch(() => null);
    if (!check || check.status !== 200) {
      showSetup(check ? cfg.text.badToken : cfg.text.offline);
      return;
    }
    localStorage.setItem(TOKEN_KEY, state.token);
    start();
  }

  $('setup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pair($('token-input').value);
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
    if (cfg.browserPose) startBrowserPose();
    setInterval(tick, 250);
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
      if (result.status === 200) {
        if (result.body.pose) {
          state.landmarks = result.body.pose.map(([x, y, v]) => ({ x, y, visibility: v }));
          window.kioskDebug.skeletons += 1;
        } else if (!result.body.stale) {
          state.landmarks = null;
        }
        render(result.body);
      } else if (result.status === 404) await newSession();
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
    renderHold(view);
    state.deadline = view.seconds_left == null ? null
      : performance.now() + view.seconds_left * 1000;
    tick();
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

  // "Hold… 0.3 / 0.5 s" with a bar while the asked-for gesture is being held.
  function renderHold(view) {
    const hold = view.hold;
    const box = $('hold');
    if (!hold || view.phase !== 'challenge' || hold.gesture !== view.next_gesture) {
      box.hidden = true;
      return;
    }
    const share = Math.min(hold.frames / Math.max(1, hold.need_frames),
      hold.need_seconds > 0 ? hold.seconds / hold.need_seconds : 1);
    $('hold-bar').value = Math.min(1, share);
    $('hold-text').textContent = `${cfg.text.hold} ${Math.min(hold.seconds, hold.need_seconds)
      .toFixed(1)} / ${hold.need_seconds.toFixed(1)} s`;
    box.hidden = false;
  }

  // The attempt's countdown, ticking between the server's answers.
  function tick() {
    const box = $('countdown');
    if (state.deadline == null || !state.last || state.last.phase !== 'challenge') {
      box.hidden = true;
      return;
    }
    const left = Math.max(0, Math.ceil((state.deadline - performance.now()) / 1000));
    box.textContent = cfg.text.secondsLeft.replace('{s}', left);
    box.classList.toggle('urgent', left <= 5);
    box.hidden = false;
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
    for (const [a, b] of CONNECTIONS) {
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

  // Optional in-browser pose: loaded only when switched on, run at most once every
  // BROWSER_POSE_INTERVAL ms (only the full model is vendored), and switched off for good after a
  // run slower than BROWSER_POSE_MAX_MS, so it cannot starve the frame loop of a weak PC.
  function startBrowserPose() {
    const script = document.createElement('script');
    script.src = cfg.poseScript;
    script.addEventListener('load', () => {
      const pose = new window.Pose({ locateFile: (file) => cfg.poseBase + file });
      pose.setOptions({ modelComplexity: 1, smoothLandmarks: true, minDetectionConfidence: 0.5,
        minTrackingConfidence: 0.5 });
      pose.onResults((results) => {
        if (results.poseLandmarks) {
          state.landmarks = results.poseLandmarks;
        }
        window.kioskDebug.poseResults += 1;
        draw();
      });
      (async () => {
        for (let run = 0; ; run += 1) {
          await sleep(BROWSER_POSE_INTERVAL);
          if (video.readyState < 2) continue;
          const started = performance.now();
          try {
            await pose.send({ image: video });
          } catch (error) {
            window.kioskDebug.errors.push(`pose: ${error}`);
            await sleep(5000);
          }
          // The first run loads the model; a later one this slow means the page's main thread
          // is too weak for it (software WebGL on a busy PC): leave the skeleton to the server.
          if (run > 0 && performance.now() - started > BROWSER_POSE_MAX_MS) {
            window.kioskDebug.errors.push('pose: too slow on this device, switched off');
            window.kioskDebug.browserPoseOff = true;
            return;
          }
        }
      })();
    });
    document.head.append(script);
  }

  // A pairing link (/kiosk#token=...) fills in the token on this device; the fragment never
  // reaches the server or its logs, and is removed from the address bar at once.
  const pairing = new URLSearchParams(window.location.hash.slice(1)).get('token');
  if (pairing) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    $('token-input').value = pairing;
    pair(pairing);
  } else {
    start();
  }
})();
