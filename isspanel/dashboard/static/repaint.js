// Runs in the browser when the status line's text changes. The server renders that text only
// when what it says changes, and a record's rows reach a page before its status (rows first),
// so a new text can carry an older count and live-vs-model figure than the newest row already
// painted: the figures would step back until the next paint. Paint them again once the new
// text is in the DOM (the view renders it after this callback, within the same change).
setTimeout(() => {
  if (window.isspanelLink != null) window.isspanelLink.paint();
}, 0);
