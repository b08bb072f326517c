() => {
  // The boundary inspector in the browser: keyboard shortcuts (each clicks the inspector's button, so keys
  // and buttons run the same handlers), the playhead handed to the server, the timeline's edits row
  // restyled in place after an edit (the figure is not redrawn, so zoom and the playhead stay), and a
  // click on a strip frame seeks the player to it; a nudge is drawn before the server answers. The player's
  // habits: one frame back / forward, the playback speed, the loop of the inspected segment.
  const player = () => document.querySelector('#player video');
  window.utalPlayhead = () => { const video = player(); return video ? video.currentTime : 0; };

  // One frame back or forward from the frame on screen: to a millisecond past the next frame's own time (the
  // frame length is the edits layer's, the video's own).
  window.utalStepFrame = (direction) => {
    const video = player();
    const frame = lastRow && lastRow.frame;
    if (!video || !frame) return;
    video.pause();
    const index = Math.floor(video.currentTime / frame + 1e-3) + direction;
    const end = Number.isFinite(video.duration) ? video.duration : Infinity;
    video.currentTime = Math.min(Math.max(index * frame + 0.001, 0), end);
  };
  // The speed stays with the player: a new video (a new <video> element, or new metadata) plays at it too.
  let speed = 1;
  window.utalSetSpeed = (value) => {
    speed = value > 0 ? value : 1;
    const video = player();
    if (video) video.playbackRate = speed;
  };
  for (const type of ['loadedmetadata', 'play']) {
    document.addEventListener(type, (event) => {
      if (event.target.closest && event.target.closest('#player') && event.target.playbackRate !== speed) {
        event.target.playbackRate = speed;
      }
    }, true);
  }
  // The loop: while the player plays, each animation frame checks whether it crossed the inspected segment's
  // end, and then goes back to its start (a seek elsewhere is left alone).
  let looping = false;
  let loops = 0;  // a loop turned off and on again before its next frame: only the newest one checks
  window.utalLooping = () => looping;
  window.utalSetLoop = (on) => {
    looping = Boolean(on);
    const loop = ++loops;
    let before = null;
    const check = () => {
      const video = player();
      const startBox = document.querySelector('#inspected-start');
      const endBox = document.querySelector('#inspected-end');
      if (!looping || loop !== loops) return;
      if (video && startBox && endBox && !video.paused) {
        const start = Number(startBox.textContent), end = Number(endBox.textContent);
        if (before !== null && before < end && video.currentTime >= end) video.currentTime = start;
        before = video.currentTime;
      } else before = null;
      requestAnimationFrame(check);
    };
    if (looping) requestAnimationFrame(check);
  };

  // The edits row as the server last sent it (a nudge is drawn from it before the server answers).
  let lastRow = null;
  // Nudges sent and not answered yet: while one is, an earlier answer would undo the nudge drawn after it.
  let pending = 0;
  window.utalPendingEdits = () => pending;
  window.utalDrawEdits = (text, answered = false) => {
    if (answered && pending > 0 && --pending > 0) return;
    if (text) lastRow = JSON.parse(text);
    drawRow(lastRow);
  };
  // It redraws the outlines of the edits lane too (tests and benchmarks wait for this mark).
  window.utalDrawEdits.withTrack = true;
  const drawRow = (row) => { if (window.utalDrawRow) window.utalDrawRow(row); };

  // A nudge drawn at once (info line and edits row), as the server will compute it (EditLayer.nudge and its
  // bound checks); the server's answer then redraws both, and a refused nudge redraws the last row it sent. The
  // bar is moved in the timeline's SVG (ui/instrument.js's utalSketchSpan), which costs nothing next to Plotly's
  // redraw of the whole figure: that redraw comes with the server's answer.
  const STEPS = {frame: null, tenth: 0.1, second: 1.0};
  const NUDGE_ID = /^nudge-(start|end)-(frame|tenth|second)-(minus|plus)$/;
  const drawNudge = (bound, unit, direction) => {
    pending += 1;  // each nudge is answered once, refused or not (ui/inspector_view.py)
    const startBox = document.querySelector('#inspected-start');
    const endBox = document.querySelector('#inspected-end');
    const index = lastRow ? lastRow.keys.indexOf(lastRow.selected) : -1;
    if (!startBox || !endBox || index < 0) return;
    const micro = (value) => Math.round(value * 1e6) / 1e6;
    const step = (direction === 'plus' ? 1 : -1) * (STEPS[unit] === null ? lastRow.frame : STEPS[unit]);
    const from = [micro(lastRow.x[index] - lastRow.width[index] / 2), micro(lastRow.x[index] + lastRow.width[index] / 2)];
    let [start, end] = from;
    if (bound === 'start') start = micro(start + step);
    else end = micro(end + step);
    if (start < 0 || end > lastRow.duration + 1e-9 || end - start < lastRow.frame - 1e-9) return;
    startBox.textContent = start.toFixed(3);
    endBox.textContent = end.toFixed(3);
    const row = JSON.parse(JSON.stringify(lastRow));
    const move = (bars, at) => { if (at >= 0) { bars.x[at] = micro((start + end) / 2); bars.width[at] = micro(end - start); } };
    move(row, index);
    if (row.track) {  // the segment's outline
      move(row.track, row.track.x.findIndex((x, i) => Math.abs(x - row.track.width[i] / 2 - from[0]) < 1e-5
                                                     && Math.abs(x + row.track.width[i] / 2 - from[1]) < 1e-5));
    }
    lastRow = row;  // a second nudge before the answer starts from this one, as the server will
    if (!window.utalSketchSpan || !window.utalSketchSpan(from, [start, end])) drawRow(row);
  };

  // Whether no element from ``element`` up is hidden (Gradio hides a tab's content by its inline style), read
  // without a layout of the page (as offsetParent would force on each key).
  const shown = (element) => {
    if (!element || !element.isConnected) return false;
    for (let node = element; node; node = node.parentElement) {
      if (node.hidden || node.style.display === 'none') return false;
    }
    return true;
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
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (digit && !event.shiftKey) return `label-key-${digit[1]}`;
    if (event.code === 'KeyU') return event.shiftKey ? 'inspector-redo' : 'inspector-undo';
    return event.shiftKey ? null : PLAIN[event.code] || null;
  };

  document.addEventListener('keydown', (event) => {
    if (typing(event.target) || typing(document.activeElement)) return;
    // Only while the inspector is on screen: in another tab its keys would edit a video that is not shown.
    if (!shown(document.getElementById('inspector-panel'))) return;
    if (event.code === 'KeyL' && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const box = document.querySelector('#inspector-label textarea, #inspector-label input');
      if (box) { event.preventDefault(); box.focus(); box.select(); }
      return;
    }
    const plain = !event.ctrlKey && !event.metaKey && !event.altKey && !event.shiftKey;
    const inPanel = document.activeElement && document.activeElement.closest &&
                    document.activeElement.closest('#inspector-panel');
    const step = {Comma: -1, Period: 1, ...(inPanel ? {ArrowLeft: -1, ArrowRight: 1} : {})}[event.code];
    if (plain && step) {
      event.preventDefault();
      window.utalStepFrame(step);
      return;
    }
    const id = buttonFor(event);
    const nudge = id && NUDGE_ID.exec(id);
    if (nudge && document.getElementById(id)) {
      // Drawn first and painted, then the button clicked: the page's own work for the click (Gradio's) would
      // otherwise hold the paint back.
      event.preventDefault();
      drawNudge(...nudge.slice(1));
      document.getElementById(id).dataset.drawn = '1';
      requestAnimationFrame(() => setTimeout(() => press(id), 0));
    } else if (id && press(id)) event.preventDefault();
  });

  // Each time strips are drawn, the boundary's frame of each strip is scrolled to its middle: in the next
  // animation frame, where the page is laid out for painting anyway (in the mutation's own callback the
  // layout it reads would be forced early, and done again once the rest of the answer is in the page).
  // Only strips not centred yet: the box also changes while a request is pending (Gradio's status), and a layout
  // read then costs a few ms for nothing (and would undo the user's own scrolling).
  let centring = false;
  let centred = null;
  const centre = () => {
    centring = false;
    const strips = document.querySelector('#inspector-strips div[data-key]');
    if (!strips || strips === centred) return;
    for (const strip of strips.querySelectorAll('.utal-strip')) {
      const frame = strip.querySelector('figure.boundary');
      if (!strip.clientWidth) return;  // not laid out (the panel hidden): centred once it is
      if (frame) strip.scrollLeft = frame.offsetLeft - (strip.clientWidth - frame.offsetWidth) / 2;
    }
    centred = strips;
  };
  const watchStrips = (tries) => {
    const box = document.getElementById('inspector-strips');
    if (box) new MutationObserver(() => {
      if (!centring) { centring = true; requestAnimationFrame(centre); }
    }).observe(box, {childList: true, subtree: true});
    else if (tries > 0) setTimeout(() => watchStrips(tries - 1), 200);
  };
  watchStrips(300);

  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('button[id^="nudge-"]');
    const nudge = button && NUDGE_ID.exec(button.id);
    // A mouse click: drawn after the click's own work (its request goes first), before the answer comes back.
    if (nudge && !button.dataset.drawn) setTimeout(() => drawNudge(...nudge.slice(1)), 0);
    if (button) delete button.dataset.drawn;
    const frame = event.target.closest && event.target.closest('#inspector-strips figure[data-time]');
    const video = player();
    // A millisecond past the frame's own time, so the player shows that frame and not the one before.
    if (frame && video) video.currentTime = Number(frame.dataset.time) + 0.001;
  });
}
