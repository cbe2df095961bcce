// Admin "try recognition" page: posts a photo to /api/v1/recognize and draws the named boxes.
(() => {
  const form = document.getElementById('recognize-form');
  const status = document.getElementById('recognize-status');
  const canvas = document.getElementById('recognize-canvas');
  const list = document.getElementById('recognize-results');
  const csrf = document.querySelector('meta[name=csrf-token]').content;
  const t = JSON.parse(document.getElementById('recognize-text').textContent);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = form.image.files[0];
    if (!file) return;
    status.textContent = t.working;
    list.replaceChildren();
    const body = new FormData();
    body.append('image', file);
    const response = await fetch('/api/v1/recognize', {
      method: 'POST', body, headers: { 'X-CSRFToken': csrf, Accept: 'application/json' },
    });
    const data = await response.json();
    if (!response.ok) {
      status.textContent = `${t.failed}: ${data.message}`;
      canvas.hidden = true;
      return;
    }
    status.textContent = `${t.found} ${data.faces.length}`;
    status.title = data.model_version;
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, 720 / bitmap.width);
    canvas.width = bitmap.width * scale;
    canvas.height = bitmap.height * scale;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 3;
    ctx.font = '16px system-ui, sans-serif';
    for (const face of data.faces) {
      const [x, y, w, h] = face.box.map((v) => v * scale);
      const label = face.known ? face.name : t.unknown;
      ctx.strokeStyle = face.known ? '#2e7d32' : '#b26a00';
      ctx.strokeRect(x, y, w, h);
      const textWidth = ctx.measureText(label).width;
      const labelY = y >= 24 ? y - 24 : y + h;
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillRect(x - 1.5, labelY, textWidth + 10, 24);
      ctx.fillStyle = '#fff';
      ctx.fillText(label, x + 4, labelY + 17);
      const item = document.createElement('li');
      item.className = face.known ? 'known' : 'unknown';
      item.textContent = `${label} (${t.similarity} ${face.similarity.toFixed(2)})`;
      list.append(item);
    }
    canvas.hidden = false;
  });
})();
