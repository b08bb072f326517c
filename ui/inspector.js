() => {
  // The boundary inspector in the browser: keyboard shortcuts (each clicks the inspector's button, so keys
  // and buttons run the same handlers), the playhead handed to the server, the timeline's edits row
  // restyled in place after an edit (the figure is not redrawn, so zoom and the playhead stay), and a
  // click on a strip frame seeks the player to it.
  const player = () => document.querySelector('#player video');
  window.utalPlayhead = () => { const video = player(); return video ? video.currentTime : 0; };

  window.utalDrawEdits = (text) => {
    const plot = document.querySelector('#timeline .js-plotly-plot');
    if (!text || !plot || !plot.data || !window.Plotly) return;
    const index = plot.data.findIndex((trace) => trace.meta && trace.meta.edits);
    if (index < 0) return;
    const row = JSON.parse(text);
    window.Plotly.restyle(plot, {
      x: [row.x], y: [row.x.map(() => 1)], width: [row.width], customdata: [row.hover],
      'marker.color': [row.color], 'marker.pattern.shape': [row.pattern], 'marker.line.width': [row.line],
    }, [index]);
  };

  const typing = (element) => element && (element.isContentEditable ||
                                          ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName));
  const press = (id) => {
    const button = document.getElementById(id);
    if (!button) return false;
    button.click();
    return true;
  };
  const NUDGES = {KeyZ: ['start', 'minus'], KeyX: ['start', 'plus'], KeyC: ['end', 'minus'], KeyV: ['end', 'plus']};
  const PLAIN = {KeyI: 'set-start-playhead', KeyO: 'set-end-playhead', KeyA: 'inspector-accept',
                 KeyR: 'inspector-reject', KeyN: 'inspector-add'};

  const buttonFor = (event) => {
    const command = event.ctrlKey || event.metaKey;
    if (command) {
      if (event.code === 'KeyZ') return event.shiftKey ? 'inspector-redo' : 'inspector-undo';
      return event.code === 'KeyY' ? 'inspector-redo' : null;
    }
    if (NUDGES[event.code]) {
      const [bound, sign] = NUDGES[event.code];
      return `nudge-${bound}-${event.altKey ? 'second' : event.shiftKey ? 'tenth' : 'frame'}-${sign}`;
    }
    if (event.altKey) return null;
    if (event.code === 'KeyU') return event.shiftKey ? 'inspector-redo' : 'inspector-undo';
    return event.shiftKey ? null : PLAIN[event.code] || null;
  };

  document.addEventListener('keydown', (event) => {
    if (typing(event.target) || typing(document.activeElement)) return;
    if (event.code === 'KeyL' && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const box = document.querySelector('#inspector-label textarea, #inspector-label input');
      if (box) { event.preventDefault(); box.focus(); box.select(); }
      return;
    }
    const id = buttonFor(event);
    if (id && press(id)) event.preventDefault();
  });

  document.addEventListener('click', (event) => {
    const frame = event.target.closest && event.target.closest('#inspector-strips figure[data-time]');
    const video = player();
    // A millisecond past the frame's own time, so the player shows that frame and not the one before.
    if (frame && video) video.currentTime = Number(frame.dataset.time) + 0.001;
  });
}
