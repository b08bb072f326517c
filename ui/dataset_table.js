() => {
  // The Dataset tab's video table, in the page: the server sends the whole table once per loaded set (column
  // arrays, see ui/dataset_tab.py table_payload); sorting, filtering and paging run here with no request, and only
  // the visible page is drawn, as plain text cells. Its order is the one the server opens a row in (J / K walk it).
  // Sort and filter are those of utal_core.dataset.DatasetView.ordered_rows: NaN last either way, ties in the ground
  // truth's order, text columns by their text; text in the id (any case), a class among the video's, a range.
  const table = {data: null, query: null, orders: {}, order: [], offset: 0, message: ''};

  function textRanks(values) {  // equal texts share a rank, as DatasetView's
    const indices = values.map((_, i) => i).sort((a, b) => (values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : 0));
    const ranks = new Array(values.length);
    let rank = -1;
    indices.forEach((i, k) => { if (k === 0 || values[i] !== values[indices[k - 1]]) rank += 1; ranks[i] = rank; });
    return ranks;
  }

  function sorted(column, descending) {
    const key = column + (descending ? ' desc' : '');
    if (!table.orders[key]) {
      const data = table.data;
      const values = data.kinds[column] === 'text' ? textRanks(data.columns[column]) : data.columns[column];
      const sign = descending ? -1 : 1;
      const missing = (v) => v === null || v === undefined;
      table.orders[key] = values.map((_, i) => i).sort((a, b) => {
        const x = values[a], y = values[b];
        if (missing(x) || missing(y)) return missing(x) === missing(y) ? a - b : (missing(x) ? 1 : -1);
        return x === y ? a - b : sign * (x < y ? -1 : 1);
      });
    }
    return table.orders[key];
  }

  function bound(text, name) {  // empty: open; else a finite number
    text = (text || '').trim();
    if (!text) return null;
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || !Number.isFinite(Number(text))) {
      throw new Error(`the range's ${name} must be a number, not '${text.slice(0, 40)}'`);
    }
    return Number(text);
  }

  function rows([sortBy, descending, text, label, withVideo, column, low, high]) {
    const data = table.data;
    const keep = [];
    const lower = (text || '').trim().toLowerCase();
    const labelIndex = label ? data.labels.indexOf(label) : null;
    const range = column ? [bound(low, 'lower bound'), bound(high, 'upper bound')] : [null, null];
    const values = column ? data.columns[column] : null;
    for (const i of sorted(sortBy || 'ap', Boolean(descending))) {
      if (lower && !data.columns.video[i].toLowerCase().includes(lower)) continue;
      if (labelIndex !== null && !data.video_labels[i].includes(labelIndex)) continue;
      if (withVideo && !data.columns.has_video[i]) continue;
      if (range[0] !== null && !(values[i] !== null && values[i] >= range[0])) continue;
      if (range[1] !== null && !(values[i] !== null && values[i] <= range[1])) continue;
      keep.push(i);
    }
    return keep;
  }

  function cell(value, kind) {
    if (value === null || value === undefined) return '';
    if (kind === 'float') return value.toFixed(3);
    if (kind === 'bool') return value ? 'True' : 'False';
    return String(value);
  }

  async function draw() {  // the visible page only; every cell is text (textContent), never HTML
    let host = document.querySelector('#dataset-table .utal-videos');
    for (let frame = 0; !host && frame < 120; frame++) {  // the panel may be shown a frame after the answer
      await new Promise((resolve) => requestAnimationFrame(resolve));
      host = document.querySelector('#dataset-table .utal-videos');
    }
    const data = table.data;
    if (!host || !data) return;
    const info = document.getElementById('dataset-page-info');
    const head = document.createElement('tr');
    for (const column of data.shown) head.appendChild(document.createElement('th')).textContent = column;
    const body = document.createElement('tbody');
    const page = table.order.slice(table.offset, table.offset + data.page_size);
    for (const i of page) {
      const row = body.appendChild(document.createElement('tr'));
      row.dataset.row = String(i);
      for (const column of data.shown) {
        row.appendChild(document.createElement('td')).textContent = cell(data.columns[column][i], data.kinds[column]);
      }
    }
    host.tHead.replaceChildren(head);
    host.tBodies[0].replaceWith(body);
    const [sortBy, descending] = table.query;
    info.textContent = table.message || (`Videos ${page.length ? table.offset + 1 : 0}–${table.offset + page.length}`
      + ` of ${table.order.length} (of ${data.columns.video.length}), sorted by ${sortBy || 'ap'}`
      + `${descending ? ' descending' : ''}. Click a row to open the video.`);
  }

  function apply(query) {  // a new sort or filter: its first page
    table.query = query;
    try {
      table.order = rows(query);
      table.message = '';
    } catch (error) {
      table.message = error.message;  // a bad range bound: one plain line, the rows as they were
    }
    table.offset = 0;
    draw();
  }

  window.utalDatasetTable = {
    load(payload, query) { table.data = JSON.parse(payload); table.orders = {}; apply(query); },
    query(query) { if (table.data) apply(query); },
    turn(step) {
      if (!table.data) return;
      const size = table.data.page_size;
      const last = Math.max(Math.ceil(table.order.length / size) - 1, 0) * size;
      table.offset = Math.min(Math.max(table.offset + step * size, 0), last);
      draw();
    },
    draw,
    order: () => table.order.slice(),
    chosen: () => JSON.stringify({row: Number(window.utalDatasetRow), order: table.order}),
  };
}
