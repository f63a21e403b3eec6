// The status bar at the top of the page: one line for what the person should know now
// (connecting, reconnecting, the server going down), read out by screen readers.

// setStatus shows text in the status bar; kind is 'info', 'warn' or 'error'. Empty text hides it.
export function setStatus(text, kind = 'info') {
  const bar = document.querySelector('#status');
  bar.textContent = text;
  bar.className = kind;
  bar.hidden = !text;
}

// clearStatus hides the status bar if it still shows text, and leaves a newer message alone.
export function clearStatus(text) {
  if (document.querySelector('#status').textContent === text) setStatus('');
}
