() => {
  // Timeline and player as one instrument, entirely in the browser: a click on the timeline seeks the
  // player, and a playhead line over the timeline follows the video. The line is a div laid over the
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

  const playheadOf = (plot) => {
    let line = plot.querySelector(':scope > #timeline-playhead');
    if (!line) {
      line = document.createElement('div');
      line.id = 'timeline-playhead';
      line.style.cssText = 'position:absolute;width:2px;margin-left:-1px;background:#d62728;' +
                           'pointer-events:none;z-index:10;display:none';
      plot.style.position = 'relative';
      plot.appendChild(line);
    }
    return line;
  };

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

  const bindPlot = (plot) => {
    bound.plot = plot;
    if (plot._utalBound || typeof plot.on !== 'function') return;
    plot._utalBound = true;
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
