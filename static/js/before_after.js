// A before/after slider on a finished photo result: the original is laid over the result and
// uncovered by a range input. Runs on the job page for photo-to-photo jobs (the result may be
// larger than the original, e.g. after enhance x4: both are shown at the same displayed size).
(() => {
  const box = document.getElementById('job-result-media');
  if (!box || !box.dataset.before) return;
  const label = box.dataset.label || 'Before / after';

  function upgrade() {
    const result = box.querySelector('img');
    if (!result || result.closest('.before-after')) return;
    const frame = document.createElement('div');
    frame.className = 'before-after';
    const before = document.createElement('img');
    before.className = 'before';
    before.src = box.dataset.before;
    before.alt = box.dataset.beforeAlt || '';
    const range = document.createElement('input');
    range.type = 'range';
    range.className = 'before-after-range';
    range.min = '0';
    range.max = '100';
    range.value = '50';
    range.setAttribute('aria-label', label);
    const show = () => { before.style.clipPath = `inset(0 ${100 - Number(range.value)}% 0 0)`; };
    range.addEventListener('input', show);
    result.replaceWith(frame);
    frame.append(result, before);
    box.insertBefore(range, frame.nextSibling);
    show();
  }

  upgrade();
  new MutationObserver(upgrade).observe(box, { childList: true, subtree: true });
})();
