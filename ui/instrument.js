() => {
  // Timeline and player as one instrument, entirely in the browser: a click on the timeline seeks the
  // player, a playhead line over the timeline follows the video, and drags on the edits lane edit segments. The line is a div laid over the
  // Plotly plot and placed from the plot's own axis geometry, so the figure is never redrawn per tick.
  // Gradio swaps the <video> element and the plot's div whenever a handler returns new values; a light poll re-binds whichever of them is new.
  const bound = {plot: null, video: null};
  // Gradio mounts a new plot div for each new figure, so Plotly's uirevision alone cannot keep the
  // zoom: the user's x range is kept here per uirevision (the analysis) and put back on the new div.
  const view = {revision: null, range: null};

  const keepView = (plot, change) => {
    if (change['xaxis.autorange']) view.range = null;
    else if ('xaxis.range[0]' in change) view.range = [change['xaxis.range[0]'], change['xaxis.range[1]']];
    else if (change['xaxis.range']) view.range = change['xaxis.range'];
    else return;
    view.revision = plot.layout.uirevision;
  };

  const timeOfClientX = (plot, clientX) => {
    const axis = plot._fullLayout.xaxis;
    const [low, high] = axis.range.map(Number);
    const fraction = (clientX - plot.getBoundingClientRect().left - axis._offset) / axis._length;
    return low + Math.min(Math.max(fraction, 0), 1) * (high - low);
  };

  // An element of ours laid over the plot (made once, hidden until drawn): the playhead, the drag's box.
  const overlayOf = (plot, id, style) => {
    let element = plot.querySelector(`:scope > #${id}`);
    if (!element) {
      element = document.createElement('div');
      element.id = id;
      element.style.cssText = `position:absolute;pointer-events:none;display:none;${style}`;
      plot.style.position = 'relative';
      plot.appendChild(element);
    }
    return element;
  };

  const playheadOf = (plot) => overlayOf(plot, 'timeline-playhead',
                                         'width:2px;margin-left:-1px;background:#d62728;z-index:10');

  const drawPlayhead = () => {
    const plot = bound.plot, layout = plot && plot._fullLayout;
    if (!layout || !layout.xaxis || !layout._size) return;
    const axis = layout.xaxis, [low, high] = axis.range.map(Number);
    const time = bound.video ? bound.video.currentTime : 0;
    const line = playheadOf(plot);
    line.dataset.time = time.toFixed(3);
    if (!(high > low) || time < low || time > high) { line.style.display = 'none'; return; }
    line.style.left = `${axis._offset + (time - low) / (high - low) * axis._length}px`;
    line.style.top = `${layout._size.t}px`;
    line.style.height = `${layout._size.h}px`;
    line.style.display = 'block';
  };

  const followWhilePlaying = () => {
    drawPlayhead();
    if (bound.video && !bound.video.paused && !bound.video.ended) requestAnimationFrame(followWhilePlaying);
  };


  // Drags on the edits lane (ui/timeline_edits.py): an edge of a segment's outline (the track trace, every
  // segment of the edits layer) moves that bound; a drag on an empty stretch of the lane draws a new segment.
  // The drag is drawn in the page at once (a box while dragging; on release the outline and the edits row
  // restyled, no figure redraw), then handed to the server, whose answer redraws the row (a refused drag: the
  // row as the server last sent it). A press without a drag stays a click (it seeks).
  const EDGE_PX = 6;
  // ms from each release to the dragged span painted (the box) and to the figure restyled and painted.
  const drags = {taken: null, drawnMs: [], restyledMs: []};
  window.utalTakeDrag = () => { const taken = drags.taken; drags.taken = null; return taken; };
  window.utalDragTimes = () => ({drawn: drags.drawnMs.slice(), restyled: drags.restyledMs.slice()});

  const traceIndex = (plot, key) => plot.data.findIndex((trace) => trace.meta && trace.meta[key]);
  const spansOf = (trace) => Array.from(trace.x, (x, i) => [x - trace.width[i] / 2, x + trace.width[i] / 2]);
  const micro = (value) => Math.round(value * 1e6) / 1e6;

  // The edits lane on the lanes' axis: its first and last sub-row's bases (``meta.lane``), one unit tall each.
  const laneBox = (plot) => {
    const index = traceIndex(plot, 'track'), layout = plot._fullLayout;
    if (index < 0 || !layout.yaxis2) return null;
    const axis = layout.yaxis2, {lane: [first, last], pitch} = plot.data[index].meta;
    const pixel = (value) => axis._offset + axis.l2p(value);
    return {index, first, last, pitch, top: pixel(first), bottom: pixel(last + 1), pixel,
            baseAt: (y) => first + Math.min(Math.max(Math.floor((axis.p2l(y - axis._offset) - first) / pitch), 0),
                                            Math.round((last - first) / pitch)) * pitch};
  };
  const basesOf = (trace) => Array.isArray(trace.base) ? trace.base : Array.from(trace.x, () => trace.base);
  const baseOfRow = (lane, row) => lane.first + Math.min(row, Math.round((lane.last - lane.first) / lane.pitch)) * lane.pitch;

  const xPixel = (plot, time) => plot._fullLayout.xaxis._offset + plot._fullLayout.xaxis.l2p(time);

  const previewOf = (plot) => overlayOf(plot, 'timeline-drag-box',
                                        'background:rgba(148,103,189,.35);border:1px solid #6a3d9a;z-index:11');

  // The drag's span, kept inside the video and at least one frame long, as the server's checks want it.
  const dragSpan = (grab, time) => {
    const {frame, duration} = grab.meta;
    const length = frame || 0.04;
    if (grab.kind === 'add') {
      let start = Math.max(Math.min(grab.anchor, time), 0), end = Math.min(Math.max(grab.anchor, time), duration);
      if (end - start < length) end = Math.min(start + length, duration);
      return [micro(start), micro(end)];
    }
    const [start, end] = grab.span;
    if (grab.bound === 'start') return [micro(Math.min(Math.max(time, 0), end - length)), end];
    return [start, micro(Math.max(Math.min(time, duration), start + length))];
  };

  // The drag drawn into the figure: the outline of the segment, and its edits bar (found by its old bounds).
  const drawDrag = (plot, grab, span) => {
    const track = plot.data[grab.index], editsIndex = traceIndex(plot, 'edits');
    const trackX = Array.from(track.x), trackWidth = Array.from(track.width), trackBase = Array.from(basesOf(track));
    const middle = micro((span[0] + span[1]) / 2), width = micro(span[1] - span[0]);
    const changes = {[grab.index]: {x: trackX, width: trackWidth, base: trackBase}};
    if (grab.kind === 'add') { trackX.push(middle); trackWidth.push(width); trackBase.push(grab.base); }
    else { trackX[grab.bar] = middle; trackWidth[grab.bar] = width; }
    changes[grab.index].y = trackX.map(() => 1);
    if (editsIndex >= 0) {
      const edits = plot.data[editsIndex], marker = edits.marker;
      const columns = {x: Array.from(edits.x), width: Array.from(edits.width), customdata: Array.from(edits.customdata || []),
                       'marker.color': Array.from(marker.color || []),
                       'marker.pattern.shape': Array.from((marker.pattern || {}).shape || []),
                       'marker.line.width': Array.from((marker.line || {}).width || []),
                       base: Array.from(basesOf(edits))};
      let at = grab.kind === 'add' ? -1 : spansOf(edits).findIndex(
        ([start, end]) => Math.abs(start - grab.span[0]) < 2e-3 && Math.abs(end - grab.span[1]) < 2e-3);
      if (grab.kind === 'add') {
        at = columns.x.length;
        columns['marker.color'].push('#9467bd'); columns['marker.pattern.shape'].push('');
        columns['marker.line.width'].push(0); columns.customdata.push('added (saving…)');
        columns.base.push(grab.base);
      }
      if (at >= 0) {
        columns.x[at] = middle; columns.width[at] = width; columns.y = columns.x.map(() => 1);
        if (grab.kind === 'move' && columns['marker.color'][at] !== '#9467bd') columns['marker.color'][at] = '#1f77b4';
        changes[editsIndex] = columns;
      }
    }
    restyleChanged(plot, changes);
  };

  // Plotly redraws the whole figure on a restyle of a trace's data (tens of ms on a long video's timeline; a
  // style attribute alone, such as the outline's width, costs far less): so the traces' changes go in one call,
  // each attribute only when it differs from the figure's. ``changes`` maps a trace's index to its attributes
  // (``marker.color``: dotted paths); a trace whose bars were sketched (:func:`sketchSpan`) gets its ``x`` and
  // ``width`` redrawn by Plotly in any case.
  const valueAt = (trace, path) => path.split('.').reduce((value, key) => (value == null ? value : value[key]), trace);
  const same = (a, b) => a === b || (a != null && b != null && typeof a === 'object' && typeof b === 'object'
                                     && a.length === b.length && Array.prototype.every.call(a, (value, i) => value === b[i]));
  const restyleChanged = (plot, changes) => {
    const stale = plot._utalSketched || new Set();
    const update = Object.entries(changes).map(([index, change]) => [Number(index), Object.fromEntries(
      Object.entries(change).filter(([key, value]) => (stale.has(Number(index)) && (key === 'x' || key === 'width'))
                                                      || !same(valueAt(plot.data[index], key), value)))])
      .filter(([, change]) => Object.keys(change).length > 0);
    for (const [index, change] of update) if ('x' in change) stale.delete(index);
    if (!update.length) return;
    // An attribute a trace does not change is undefined for it.
    const keys = [...new Set(update.flatMap(([, change]) => Object.keys(change)))];
    window.Plotly.restyle(plot, Object.fromEntries(keys.map((key) => [key, update.map(([, change]) => change[key])])),
                          update.map(([index]) => index));
  };

  // The edits row and the outlines of every segment from an edit's or a selection's answer (``edits_row`` of
  // ``utal_core.viz``: the row's bars, their sub-rows, and ``track``), in one restyle of what changed: a
  // selection changes the edits row alone, and an answer that matches what the page drew changes little.
  window.utalDrawRow = (row) => {
    const plot = document.querySelector('#timeline .js-plotly-plot');
    if (!row || !plot || !plot.data || !plot._fullLayout || !window.Plotly) return;
    const editsIndex = traceIndex(plot, 'edits'), lane = laneBox(plot);
    if (editsIndex < 0) return;
    const bases = (rows) => rows.map((r) => baseOfRow(lane, r));
    const changes = {[editsIndex]: {x: row.x, y: row.x.map(() => 1), width: row.width, customdata: row.hover,
                                    'marker.color': row.color, 'marker.pattern.shape': row.pattern,
                                    'marker.line.width': row.line}};
    if (lane && row.rows && row.track) {
      changes[editsIndex].base = bases(row.rows);
      changes[lane.index] = {x: row.track.x, y: row.track.x.map(() => 1), width: row.track.width,
                             base: bases(row.track.rows)};
    }
    restyleChanged(plot, changes);
  };

  // A bar moved at once, before Plotly redraws it: each bar of the edits row and of the outlines that spans
  // ``from`` (s, the first of each trace) is drawn over ``to`` in the figure's SVG, as Plotly draws a bar, and its
  // trace's ``x`` and ``width`` say so; the next restyle of those traces (:func:`restyleChanged`) is Plotly's own
  // drawing of them. True when the edits row's bar was drawn so (else nothing changed).
  window.utalSketchSpan = (from, to) => {
    const plot = document.querySelector('#timeline .js-plotly-plot');
    const axis = plot && plot._fullLayout && plot._fullLayout.xaxis;
    if (!axis || !plot.data) return false;
    const moves = [];
    for (const key of ['edits', 'track']) {
      const index = traceIndex(plot, key);
      const at = index < 0 ? -1 : spansOf(plot.data[index]).findIndex(
        ([start, end]) => Math.abs(start - from[0]) < 1e-5 && Math.abs(end - from[1]) < 1e-5);
      const group = at < 0 ? null : Array.from(plot.querySelectorAll('g.trace.bars')).find(
        (trace) => trace.__data__ && trace.__data__[0] && trace.__data__[0].trace.index === index);
      const point = group && group.querySelectorAll('g.point')[at];
      const path = point && point.querySelector('path');
      const corners = path && /^M[^,]+,([^V]+)V([^H]+)H[^V]+V[^Z]+Z$/.exec(path.getAttribute('d'));
      if (corners) moves.push({index, at, path, corners});
      else if (key === 'edits') return false;
    }
    const stale = plot._utalSketched || (plot._utalSketched = new Set());
    for (const {index, at, path, corners: [, low, high]} of moves) {
      const trace = plot.data[index];
      path.setAttribute('d', `M${axis.c2p(to[0])},${low}V${high}H${axis.c2p(to[1])}V${low}Z`);
      trace.x = Array.from(trace.x);
      trace.width = Array.from(trace.width);
      trace.x[at] = micro((to[0] + to[1]) / 2);
      trace.width[at] = micro(to[1] - to[0]);
      stale.add(index);
    }
    return true;
  };

  const grabAt = (plot, event) => {
    const lane = laneBox(plot), size = plot._fullLayout._size, box = plot.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    if (!lane || y < lane.top - 2 || y > lane.bottom + 2 || x < size.l || x > size.l + size.w) return null;
    const track = plot.data[lane.index], base = lane.baseAt(y), bases = basesOf(track);
    // Only the bars of the sub-row pressed (overlapping segments lie on sub-rows of their own).
    const spans = spansOf(track).map((span, bar) => (Math.abs(bases[bar] - base) < 1e-6 ? span : null));
    let best = null;
    spans.forEach((span, bar) => {
      if (!span) return;
      const [start, end] = span;
      // Where two segments touch, the edge of the one the pointer is in wins (its end left of the line, the
      // next one's start right of it).
      const inside = xPixel(plot, start) <= x && x <= xPixel(plot, end) ? 0.5 : 0;
      for (const [bound, time] of [['start', start], ['end', end]]) {
        const distance = Math.abs(xPixel(plot, time) - x) - inside;
        if (distance <= EDGE_PX && (!best || distance < best.distance)) best = {bar, bound, distance};
      }
    });
    const grab = {index: lane.index, meta: track.meta, lane, base, startX: event.clientX};
    if (best) return {...grab, kind: 'move', bar: best.bar, bound: best.bound, span: spans[best.bar]};
    const time = timeOfClientX(plot, event.clientX);
    if (spans.some((span) => span && span[0] <= time && time <= span[1])) return null;  // inside one: a click
    return {...grab, kind: 'add', anchor: time};
  };

  const bindDrags = (plot) => {
    const press = (event) => {
      if (event.button !== 0 || !window.Plotly || plot !== bound.plot) return;
      const grab = grabAt(plot, event);
      if (!grab) return;
      event.stopPropagation();  // Plotly's own drag (a zoom box) does not start
      if (event.type === 'pointerdown') return;  // the mousedown that follows starts the drag (no preventDefault
      event.preventDefault();                    // here: it would suppress that mousedown)
      const preview = previewOf(plot);
      let span = grab.kind === 'move' ? grab.span : [grab.anchor, grab.anchor];
      const show = () => {
        const left = xPixel(plot, span[0]), right = xPixel(plot, span[1]);
        Object.assign(preview.style, {left: `${left}px`, width: `${Math.max(right - left, 1)}px`,
                                      top: `${grab.lane.pixel(grab.base)}px`,
                                      height: `${grab.lane.pixel(grab.base + 1) - grab.lane.pixel(grab.base)}px`,
                                      display: 'block'});
      };
      const move = (moved) => { span = dragSpan(grab, timeOfClientX(plot, moved.clientX)); show(); };
      const release = (released) => {
        document.removeEventListener('mousemove', move, true);
        document.removeEventListener('mouseup', release, true);
        if (Math.abs(released.clientX - grab.startX) <= 4) {  // no drag: the click seeks (bindPlot)
          preview.style.display = 'none';
          return;
        }
        const releasedAt = performance.now(), painted = (then) => requestAnimationFrame(() => setTimeout(then, 0));
        span = dragSpan(grab, timeOfClientX(plot, released.clientX));
        show();  // the box at the released span, painted at once; then the figure's outline and edits bar
        painted(() => {
          drags.drawnMs.push(performance.now() - releasedAt);
          // Sent first (the server works while the figure is restyled); its answer comes in a later task.
          drags.taken = JSON.stringify(grab.kind === 'add' ? {kind: 'add', start: span[0], end: span[1]}
            : {kind: 'move', bound: grab.bound, start: grab.span[0], end: grab.span[1],
               to: grab.bound === 'start' ? span[0] : span[1]});
          const trigger = document.getElementById('timeline-drag-apply');
          if (trigger) trigger.click();
          drawDrag(plot, grab, span);
          painted(() => {
            drags.restyledMs.push(performance.now() - releasedAt);
            preview.style.display = 'none';
          });
        });
      };
      document.addEventListener('mousemove', move, true);
      document.addEventListener('mouseup', release, true);
    };
    plot.addEventListener('pointerdown', press, true);
    plot.addEventListener('mousedown', press, true);
  };

  const bindPlot = (plot) => {
    bound.plot = plot;
    if (plot._utalBound || typeof plot.on !== 'function') return;
    plot._utalBound = true;
    bindDrags(plot);
    // A press and release in place, not plotly_click: Plotly reports a click only where it has hover
    // data (computed on a throttled mousemove), and may lay a cover over the page while the button is
    // down, so the release can land outside the plot. A drag (a zoom box or a pan) is not a click.
    let pressedAt = null;
    plot.addEventListener('mousedown', (event) => { pressedAt = [event.clientX, event.clientY]; }, true);
    document.addEventListener('mouseup', (event) => {
      const pressed = pressedAt, video = bound.video, size = plot._fullLayout && plot._fullLayout._size;
      pressedAt = null;
      if (!pressed || !video || !size || plot !== bound.plot) return;
      const moved = Math.hypot(event.clientX - pressed[0], event.clientY - pressed[1]);
      const box = plot.getBoundingClientRect(), x = event.clientX - box.left, y = event.clientY - box.top;
      if (moved > 4 || x < size.l || x > size.l + size.w || y < size.t || y > size.t + size.h) return;
      const time = timeOfClientX(plot, event.clientX);
      video.currentTime = Number.isFinite(video.duration) ? Math.min(time, video.duration) : time;
      drawPlayhead();
    }, true);
    plot.on('plotly_relayout', (change) => { keepView(plot, change); drawPlayhead(); });
    if (view.range && plot.layout && plot.layout.uirevision === view.revision && window.Plotly) {
      window.Plotly.relayout(plot, {'xaxis.range': view.range});
    }
    plot.on('plotly_afterplot', drawPlayhead);
  };

  const bindVideo = (video) => {
    bound.video = video;
    if (video._utalBound) return;
    video._utalBound = true;
    for (const name of ['timeupdate', 'seeked', 'loadedmetadata', 'pause']) video.addEventListener(name, drawPlayhead);
    video.addEventListener('play', () => requestAnimationFrame(followWhilePlaying));
  };

  setInterval(() => {
    const plot = document.querySelector('#timeline .js-plotly-plot');
    const video = document.querySelector('#player video');
    if (plot && plot !== bound.plot) bindPlot(plot);
    if (video && video !== bound.video) bindVideo(video);
    if (plot && video && plot.querySelector(':scope > #timeline-playhead') === null) drawPlayhead();
  }, 300);
}
