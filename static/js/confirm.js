// Asks before a destructive form is sent: a form or its submit button with data-confirm="question".
// (A static file, not inline onsubmit handlers, so the pages work under a strict CSP.)
document.addEventListener('submit', (event) => {
  const button = event.submitter;
  const question = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
