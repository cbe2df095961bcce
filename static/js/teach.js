// Teach mode: record labelled gesture samples from this device's camera.
(() => {
  const video = document.getElementById('teach-video');
  const status = document.getElementById('teach-status');
  const csrf = document.querySelector('meta[name=csrf-token]').content;
  const t = JSON.parse(document.getElementById('teach-text').textContent);
  const grab = document.createElement('canvas');

  navigator.mediaDevices?.getUserMedia({ video: true, audio: false })
    .then((stream) => { video.srcObject = stream; })
    .catch(() => { status.textContent = t.noCamera; });

  document.querySelectorAll('[data-record]').forEach((button) => {
    button.addEventListener('click', async () => {
      if (!video.videoWidth) { status.textContent = t.noCamera; return; }
      const scale = Math.min(1, 640 / video.videoWidth);
      grab.width = Math.round(video.videoWidth * scale);
      grab.height = Math.round(video.videoHeight * scale);
      grab.getContext('2d').drawImage(video, 0, 0, grab.width, grab.height);
      const blob = await new Promise((resolve) => grab.toBlob(resolve, 'image/jpeg', 0.9));
      const body = new FormData();
      body.append('frame', blob, 'frame.jpg');
      body.append('label', button.dataset.record);
      const response = await fetch('/admin/gestures/samples/frame', {
        method: 'POST', body, headers: { 'X-CSRFToken': csrf, Accept: 'application/json' },
      });
      const data = await response.json();
      if (!response.ok) { status.textContent = `${t.failed}: ${data.message}`; return; }
      status.textContent = `${t.saved}: ${data.label}`;
      for (const [gesture, count] of Object.entries(data.counts)) {
        const cell = document.querySelector(`td[data-gesture="${gesture}"]`);
        if (cell) cell.firstChild.textContent = count;
      }
    });
  });
})();
