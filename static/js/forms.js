// Form helpers for every page, from data attributes (a static file, not inline handlers, so the
// pages work under a strict CSP):
//   data-confirm="question" on a form or its submit button asks before sending;
//   data-busy on a form shows its .busy element and disables its buttons while it is sent.
document.addEventListener('submit', (event) => {
  const form = event.target;
  const button = event.submitter;
  const question = (button && button.dataset.confirm) || form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if ('busy' in form.dataset) {
    const busy = form.querySelector('.busy');
    if (busy) busy.hidden = false;
    form.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  }
});
