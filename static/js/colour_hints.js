// The colorize effect's widget: paint colour hints on the photo preview (colour picker + brush).
// Strokes go into the effect's `hints` field as JSON in the photo's own pixels:
// [{"color": "#rrggbb", "points": [[x, y], ...], "width": w}, ...] (the API takes the same).
(() => {
  const S = window.STUDIO;
  const ko = (document.documentElement.lang || '').startsWith('ko');
  const T = ko
    ? { colour: '색', brush: '붓 크기', undo: '되돌리기', clear: '모두 지우기', help: '사진 위에 칠하세요. 하늘, 피부, 옷처럼 색이 다른 곳마다 한 번씩이면 충분합니다.', none: '먼저 사진을 올리세요.' }
    : { colour: 'Colour', brush: 'Brush', undo: 'Undo', clear: 'Clear', help: 'Paint on the photo: one stroke for each area of its own colour (sky, skin, clothes) is enough.', none: 'Upload a photo first.' };

  function element(tag, attrs = {}, text = '') {
    const node = document.createElement(tag);
    Object.entries(attrs).forEach(([key, value]) => node.setAttribute(key, value));
    if (text) node.textContent = text;
    return node;
  }

  S.widgets.colour_hints = {
    mount(slot, { field, preview }) {
      let strokes = [];
      try { strokes = JSON.parse(field.value || '[]'); } catch (error) { strokes = []; }
      const picker = element('input', { type: 'color', value: '#c08060', 'aria-label': T.colour });
      const width = element('input', { type: 'range', min: '2', max: '80', value: '16', 'aria-label': T.brush });
      const undo = element('button', { type: 'button', class: 'button' }, T.undo);
      const clear = element('button', { type: 'button', class: 'button' }, T.clear);
      const help = element('span', { class: 'muted small' }, T.help);
      const bar = element('span', { class: 'hint-tools' });
      bar.append(element('span', {}, `${T.colour} `), picker, element('span', {}, ` ${T.brush} `), width, ' ', undo, ' ', clear);
      slot.append(bar, element('br'), help);

      const canvas = element('canvas', { class: 'hint-canvas' });
      let image = null;
      let current = null;

      const scale = () => (image ? image.naturalWidth / image.clientWidth : 1);
      const save = () => { field.value = strokes.length ? JSON.stringify(strokes) : ''; };

      function draw() {
        if (!image) return;
        canvas.width = image.clientWidth;
        canvas.height = image.clientHeight;
        const context = canvas.getContext('2d');
        context.clearRect(0, 0, canvas.width, canvas.height);
        const k = scale();
        context.lineCap = 'round';
        context.lineJoin = 'round';
        for (const stroke of strokes.concat(current ? [current] : [])) {
          context.strokeStyle = stroke.color;
          context.fillStyle = stroke.color;
          context.lineWidth = stroke.width / k;
          context.globalAlpha = 0.8;
          const points = stroke.points.map(([x, y]) => [x / k, y / k]);
          context.beginPath();
          if (points.length === 1) {
            context.arc(points[0][0], points[0][1], stroke.width / k / 2, 0, 2 * Math.PI);
            context.fill();
          } else {
            context.moveTo(...points[0]);
            points.slice(1).forEach((p) => context.lineTo(...p));
            context.stroke();
          }
        }
      }

      // The preview changes with every upload, and the effect's options are shown or hidden
      // with the chosen effect: keep the canvas on the current photo while this effect is chosen.
      function attach() {
        const shown = slot.offsetParent !== null;
        const photo = preview();
        const usable = shown && photo && photo.tagName === 'IMG';
        if (!usable) { canvas.remove(); return; }
        if (photo !== image) {
          image = photo;
          if (image.complete) draw(); else image.addEventListener('load', draw, { once: true });
        }
        if (canvas.parentElement !== photo.parentElement) photo.parentElement.append(canvas);
        if (canvas.width !== photo.clientWidth || canvas.height !== photo.clientHeight) draw();
      }
      setInterval(attach, 300);
      window.addEventListener('resize', draw);

      function at(event) {
        const box = canvas.getBoundingClientRect();
        const k = scale();
        return [Math.round((event.clientX - box.left) * k * 10) / 10,
                Math.round((event.clientY - box.top) * k * 10) / 10];
      }
      canvas.addEventListener('pointerdown', (event) => {
        event.preventDefault();
        canvas.setPointerCapture(event.pointerId);
        current = { color: picker.value, points: [at(event)], width: Math.round(Number(width.value) * scale()) };
        draw();
      });
      canvas.addEventListener('pointermove', (event) => {
        if (!current) return;
        const point = at(event);
        const last = current.points[current.points.length - 1];
        if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= 2 && current.points.length < 5000) {
          current.points.push(point);
          draw();
        }
      });
      const finish = () => {
        if (!current) return;
        strokes.push(current);
        current = null;
        save();
        draw();
      };
      canvas.addEventListener('pointerup', finish);
      canvas.addEventListener('pointercancel', finish);
      undo.addEventListener('click', () => { strokes.pop(); save(); draw(); });
      clear.addEventListener('click', () => { strokes = []; save(); draw(); });
      field.addEventListener('change', () => {
        try { strokes = JSON.parse(field.value || '[]'); } catch (error) { return; }
        draw();
      });
    },
  };
})();
