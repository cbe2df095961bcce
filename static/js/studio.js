// Studio pages: upload a photo or video, pick faces on it, start a job, follow its progress.
// Everything goes through the REST API (/api/v1/studio); the session sends the CSRF token.
(() => {
  const S = window.STUDIO;
  const t = S.t;
  const csrf = document.querySelector('meta[name=csrf-token]').content;
  const FINISHED = new Set(['done', 'failed', 'cancelled']);
  const headers = { 'X-CSRFToken': csrf, Accept: 'application/json' };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function api(url, options = {}) {
    const response = await fetch(url, { credentials: 'same-origin', headers, ...options });
    let data = {};
    try { data = await response.json(); } catch (error) { data = { message: response.statusText }; }
    return { response, data };
  }

  function badge(status) {
    const span = document.createElement('span');
    span.className = `badge job-${status}`;
    span.textContent = S.status[status] || status;
    return span;
  }

  function mediaElement(url, mediaType, alt) {
    const element = document.createElement(mediaType.startsWith('video/') ? 'video' : 'img');
    element.src = url;
    if (element.tagName === 'VIDEO') {
      element.controls = true;
      element.playsInline = true;
      element.preload = 'metadata';
    } else {
      element.alt = alt || '';
    }
    return element;
  }

  // ---- the upload page ------------------------------------------------------------------------
  const form = document.getElementById('studio-form');
  if (form) {
    const fileInput = document.getElementById('studio-media');
    const uploadProgress = document.getElementById('studio-upload-progress');
    const uploadStatus = document.getElementById('studio-upload-status');
    const facesBox = document.getElementById('studio-faces');
    const facesHint = document.getElementById('studio-faces-hint');
    const preview = document.getElementById('studio-preview');
    const formError = document.getElementById('studio-form-error');
    const submit = document.getElementById('studio-submit');
    const contract = Object.fromEntries(S.contract.map((e) => [e.name, e]));
    let media = null;
    const faces = {}; // effect -> list of faces
    const chosen = {}; // effect -> Set of chosen face ids
    let facesToken = 0;

    const effect = () => form.querySelector('input[name=effect]:checked').value;
    const optionsOf = (name) => document.getElementById(`studio-${name}-options`);
    // The parameter an effect fills from the face boxes (a schema property with `x-faces`).
    const faceParam = (name) => {
      const props = contract[name].params_schema.properties || {};
      const key = Object.keys(props).find((k) => props[k]['x-faces']);
      return key ? { name: key, ...props[key]['x-faces'] } : null;
    };

    function showOptions() {
      document.querySelectorAll('.effect-options').forEach((box) => { box.hidden = box.dataset.effect !== effect(); });
      if (media) loadFaces();
    }
    form.querySelectorAll('input[name=effect]').forEach((radio) => radio.addEventListener('change', showOptions));
    form.querySelectorAll('input[type=range][data-param]').forEach((range) => {
      const output = range.parentElement.querySelector('output');
      range.addEventListener('input', () => { output.textContent = range.value; });
    });
    // Effects may ship a small widget script (their `widget_script`) registering S.widgets[name].
    form.querySelectorAll('.effect-widget').forEach((slot) => {
      const widget = S.widgets[slot.dataset.widget];
      const field = slot.parentElement.querySelector('[data-param]');
      const options = slot.closest('.effect-options');
      const spec = contract[options.dataset.effect];
      if (widget) widget.mount(slot, { field, preview: () => preview.firstChild, options, spec, api });
    });

    function upload(file) {
      return new Promise((resolve) => {
        const request = new XMLHttpRequest();
        request.open('POST', S.mediaUrl);
        request.setRequestHeader('X-CSRFToken', csrf);
        request.setRequestHeader('Accept', 'application/json');
        request.upload.onprogress = (event) => {
          if (event.lengthComputable) uploadProgress.value = (100 * event.loaded) / event.total;
          if (event.loaded === event.total) uploadStatus.textContent = t.checking;
        };
        request.onload = () => {
          let data = {};
          try { data = JSON.parse(request.responseText); } catch (error) { data = { message: request.statusText }; }
          resolve({ ok: request.status < 300, data });
        };
        request.onerror = () => resolve({ ok: false, data: { message: t.failed } });
        const body = new FormData();
        body.append('media', file);
        request.send(body);
      });
    }

    fileInput.addEventListener('change', async () => {
      const file = fileInput.files[0];
      media = null;
      submit.disabled = true;
      facesBox.hidden = true;
      formError.textContent = '';
      Object.keys(faces).forEach((key) => delete faces[key]);
      Object.keys(chosen).forEach((key) => delete chosen[key]);
      if (!file) return;
      uploadProgress.hidden = false;
      uploadProgress.value = 0;
      uploadStatus.textContent = t.uploading;
      const { ok, data } = await upload(file);
      uploadProgress.hidden = true;
      if (!ok) {
        uploadStatus.textContent = `${t.failed}: ${data.message}`;
        return;
      }
      media = data;
      uploadStatus.textContent = `${t.ready} ${data.width}×${data.height}` +
        (data.duration ? `, ${data.duration.toFixed(1)} s` : '');
      preview.replaceChildren(mediaElement(media.url, media.media_type));
      const element = preview.firstChild;
      if (element.tagName === 'VIDEO') { element.controls = false; element.muted = true; }
      facesBox.hidden = false;
      submit.disabled = false;
      loadFaces();
    });

    async function loadFaces() {
      const wanted = effect();
      const token = ++facesToken;
      preview.querySelectorAll('.face-box').forEach((box) => box.remove());
      const param = faceParam(wanted);
      if (!param) { facesHint.textContent = ''; return; }
      if (faces[wanted]) { drawFaces(wanted); return; }
      facesHint.textContent = t.findingFaces;
      for (let tries = 0; tries < 600; tries += 1) {
        const { response, data } = await api(`${media.faces_url}?effect=${wanted}`);
        if (token !== facesToken) return;
        if (response.status === 202) {
          if (tries === 15) facesHint.textContent = t.waitingWorker;
          await sleep(1000);
          continue;
        }
        if (!response.ok || data.status === 'failed') {
          facesHint.textContent = `${t.facesFailed} ${data.error || data.message}`;
          return;
        }
        faces[wanted] = data.faces;
        chosen[wanted] = new Set(data.faces
          .filter((face) => (param.preset === 'suggested' ? face.suggest_keep : true))
          .map((face) => face.id));
        drawFaces(wanted);
        return;
      }
    }

    function drawFaces(which) {
      preview.querySelectorAll('.face-box').forEach((box) => box.remove());
      const param = faceParam(which);
      const list = faces[which] || [];
      if (!list.length) { facesHint.textContent = t.noFaces; return; }
      facesHint.textContent = param.hint;
      for (const face of list) {
        const [x, y, w, h] = face.box;
        const box = document.createElement('button');
        box.type = 'button';
        box.className = `face-box ${which} preset-${param.preset}`;
        box.style.left = `${(100 * x) / media.width}%`;
        box.style.top = `${(100 * y) / media.height}%`;
        box.style.width = `${(100 * w) / media.width}%`;
        box.style.height = `${(100 * h) / media.height}%`;
        const label = document.createElement('span');
        box.append(label);
        const paint = () => {
          const on = chosen[which].has(face.id);
          box.classList.toggle('chosen', on);
          const state = on ? param.chosen : param.other;
          const who = face.name || (face.main_subject ? t.mainSubject : '');
          label.textContent = `#${face.id} ${state}${who ? ` · ${who}` : ''}`;
          box.setAttribute('aria-pressed', on ? 'true' : 'false');
        };
        box.addEventListener('click', () => {
          if (chosen[which].has(face.id)) chosen[which].delete(face.id); else chosen[which].add(face.id);
          paint();
        });
        paint();
        preview.append(box);
      }
    }

    // The job request from the generated form: inputs by role, then parameters by the schema.
    function collect(which, body, extra = {}) {
      const spec = contract[which];
      const options = optionsOf(which);
      // A field a widget has hidden (e.g. the source photo while a generated person is chosen)
      // is not sent; an input whose stand-in parameter (`instead`) is shown is not required.
      const hidden = (field) => !field || Boolean(field.closest('[hidden]'));
      const sent = new Set(['media']);
      for (const input of spec.inputs) {
        if (input.role === 'media') continue;
        const field = options.querySelector(`[data-role="${input.role}"]`);
        if (hidden(field)) continue;
        if (field.type === 'file' && field.files[0]) sent.add(input.role);
        if (field.type === 'file') {
          if (field.files[0]) body.append(input.role, field.files[0]);
          else if (input.required) return input.missing || input.label;
        } else if (field.value.trim()) {
          body.append(input.role, field.value);
        } else if (input.required) {
          return input.missing || input.label;
        }
      }
      const props = spec.params_schema.properties || {};
      const params = {};
      for (const [name, prop] of Object.entries(props)) {
        if (prop['x-faces']) {
          if (faces[which]) params[name] = [...chosen[which]];
          continue;
        }
        const field = options.querySelector(`[data-param="${name}"]`);
        if (hidden(field)) continue;
        if (field.dataset.missing && !field.value) return field.dataset.missing; // a widget's own
        if (field.type === 'checkbox') {
          if (prop.const !== undefined && field.checked !== prop.const) return prop['x-error'];
          if (prop['x-required-with'] && sent.has(prop['x-required-with']) && !field.checked) return prop['x-error'];
          params[name] = field.checked;
        } else if (field.type === 'range') {
          params[name] = Number(field.value);
        } else if (field.dataset.type === 'json') {
          if (!field.value.trim()) continue;
          try { params[name] = JSON.parse(field.value); } catch (error) { return `${prop['x-title'] || name}: ${t.notJson}`; }
        } else if (field.value !== '') {
          params[name] = field.value;
        }
      }
      body.append('params', JSON.stringify({ ...params, ...extra }));
      return null;
    }

    // The job request for the form as set (with `extra` parameters), or null after saying in
    // the form why it cannot be sent.
    function jobBody(extra = {}) {
      formError.textContent = '';
      if (!media) { formError.textContent = t.chooseFile; return null; }
      const which = effect();
      const body = new FormData();
      body.append('media_id', media.id);
      body.append('effect', which);
      const refused = collect(which, body, extra);
      if (refused) { formError.textContent = refused; return null; }
      return body;
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = jobBody();
      if (!body) return;
      submit.disabled = true;
      formError.textContent = t.starting;
      const { response, data } = await api(S.jobsUrl, { method: 'POST', body });
      submit.disabled = false;
      if (response.status !== 202) { formError.textContent = `${t.failed}: ${data.message}`; return; }
      window.location.href = `${S.jobPage}${data.job_id}`;
    });

    // A quick preview (an effect's `x-preview` parameter): the same request, every slider and
    // choice as set, with that parameter on; its result is shown here when done.
    form.querySelectorAll('[data-preview]').forEach((button) => {
      const box = button.parentElement;
      const status = box.querySelector('[data-preview-status]');
      const image = box.querySelector('[data-preview-image]');
      const done = ['done', 'failed', 'cancelled'];
      button.addEventListener('click', async () => {
        const body = jobBody({ [button.dataset.preview]: true });
        if (!body) return;
        button.disabled = true;
        status.textContent = t.starting;
        const { response, data } = await api(S.jobsUrl, { method: 'POST', body });
        if (response.status !== 202) {
          button.disabled = false;
          status.textContent = `${t.failed}: ${data.message}`;
          return;
        }
        let job = { status: 'queued' };
        while (!done.includes(job.status)) {
          await new Promise((resolve) => { setTimeout(resolve, 1000); });
          const polled = await api(data.status_url);
          if (!polled.response.ok) { job = { status: 'failed', error: polled.data.message }; break; }
          job = polled.data;
          status.textContent = `${job.progress}% ${job.message || ''}`;
        }
        button.disabled = false;
        if (job.status === 'done' && job.result) {
          image.src = job.result.url;
          image.hidden = false;
          status.textContent = t.previewReady;
        } else {
          status.textContent = `${t.failed}: ${job.error || job.message || ''}`;
        }
      });
    });
  }

  // ---- the job list (upload page) -------------------------------------------------------------
  // Every time in the list is on the site's clock (SITE_TIMEZONE), like the rows the server
  // wrote: "YYYY-MM-DD HH:MM" (the Swedish locale writes ISO dates).
  const siteTime = (iso) => new Intl.DateTimeFormat('sv-SE', {
    timeZone: S.timezone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(iso));

  // The job's options in words from the effect's parameter schema (as the server writes them).
  const optionsText = (job) => {
    const effect = S.contract.find((e) => e.name === job.effect);
    const props = (effect && effect.params_schema.properties) || {};
    const count = (n, one, many) => (n === 1 ? one : many).replace('{n}', n);
    return Object.entries(job.params || {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => {
      const spec = props[key] || {};
      let text;
      if (typeof value === 'boolean') text = value ? t.on : t.off;
      else if (Array.isArray(value)) {
        text = spec['x-faces'] ? count(value.length, t.faceOne, t.faceMany)
          : count(value.length, t.itemOne, t.itemMany);
      } else if (value !== null && typeof value === 'object') return null;
      else text = (spec['x-labels'] && spec['x-labels'][value]) || String(value);
      return `${spec['x-title'] || spec.title || key} ${text}`;
    }).filter(Boolean).join(' · ');
  };

  const jobsTable = document.getElementById('studio-jobs');
  if (jobsTable) {
    const tbody = jobsTable.querySelector('tbody');
    const unfinished = () => [...tbody.querySelectorAll('.badge')].some((b) => /job-(queued|running)/.test(b.className));
    const render = (jobs) => {
      if (!jobs.length) return;
      tbody.replaceChildren(...jobs.map((job) => {
        const row = document.createElement('tr');
        row.dataset.job = job.job_id;
        const link = document.createElement('a');
        link.href = `${S.jobPage}${job.job_id}`;
        link.textContent = job.job_id;
        const progress = document.createElement('progress');
        progress.max = 100;
        progress.value = job.progress;
        const note = document.createElement('span');
        note.className = 'small';
        note.textContent = ` ${job.status === 'failed' ? job.error || '' : job.message || ''}`;
        const effect = document.createElement('span');
        effect.textContent = S.effects[job.effect] || job.effect;
        const options = optionsText(job);
        if (options) {
          const small = document.createElement('span');
          small.className = 'muted small';
          small.textContent = options;
          effect.append(document.createElement('br'), small);
        }
        const file = job.input.original_name || (job.input.kind === 'video' ? t.video : t.photo);
        const cells = [[link], [file], [effect], [badge(job.status)], [progress, note],
          [siteTime(job.created_at)]];
        for (const content of cells) {
          const cell = document.createElement('td');
          cell.append(...content);
          row.append(cell);
        }
        return row;
      }));
    };
    (async () => {
      while (true) {
        await sleep(unfinished() ? 1500 : 5000);
        if (document.hidden) continue;
        const { response, data } = await api(S.jobsUrl);
        if (response.ok) render(data.jobs);
      }
    })();
  }

  // ---- one job ---------------------------------------------------------------------------------
  const jobCard = document.getElementById('job');
  if (jobCard) {
    const statusUrl = jobCard.dataset.statusUrl;
    const cancel = document.getElementById('job-cancel');
    const retry = document.getElementById('job-retry');
    const download = document.getElementById('job-download');
    const resultBox = document.getElementById('job-result-media');
    let shownResult = resultBox.querySelector('img, video') ? 'shown' : null;

    const show = (job) => {
      document.getElementById('job-status').replaceWith(Object.assign(badge(job.status), { id: 'job-status' }));
      document.getElementById('job-message').textContent = job.message || '';
      document.getElementById('job-progress').value = job.progress;
      document.getElementById('job-percent').textContent = `${job.progress}%`;
      const error = document.getElementById('job-error');
      error.hidden = !job.error;
      error.textContent = job.error || '';
      cancel.hidden = FINISHED.has(job.status);
      retry.hidden = !['failed', 'cancelled'].includes(job.status);
      if (job.result && shownResult !== job.result.url) {
        resultBox.replaceChildren(mediaElement(job.result.url, job.result.media_type, t.resultAlt));
        // A WebVTT extra output (e.g. a talking photo's subtitles) becomes the video's track.
        const player = resultBox.querySelector('video');
        (job.result.extras || []).filter((extra) => extra.name.endsWith('.vtt')).forEach((extra, i) => {
          if (!player) return;
          const track = Object.assign(document.createElement('track'), {
            kind: 'subtitles', src: extra.url, label: t.subtitles, default: i === 0,
          });
          track.srclang = (job.details && job.details.language) || 'en';
          player.append(track);
        });
        download.href = job.result.download_url;
        download.hidden = false;
        shownResult = job.result.url;
      }
      if (!job.result) download.hidden = true;
    };

    let lastStatus = document.getElementById('job-status').className;
    let polling = false;
    const poll = async () => {
      if (polling) return;
      polling = true;
      while (true) {
        const { response, data } = await api(statusUrl);
        if (response.ok) {
          show(data);
          if (FINISHED.has(data.status)) {
            // Finished while the page was open: reload once to show what the effect reports.
            if (!/job-(done|failed|cancelled)/.test(lastStatus) && data.status === 'done') window.location.reload();
            lastStatus = `job-${data.status}`;
            break;
          }
          lastStatus = `job-${data.status}`;
        }
        await sleep(1000);
      }
      polling = false;
    };
    const act = async (button, action) => {
      button.disabled = true;
      const { response, data } = await api(`${statusUrl}/${action}`, { method: 'POST' });
      button.disabled = false;
      if (response.ok) { show(data); poll(); } else {
        const error = document.getElementById('job-error');
        error.hidden = false;
        error.textContent = data.message;
      }
    };
    cancel.addEventListener('click', () => act(cancel, 'cancel'));
    retry.addEventListener('click', () => act(retry, 'retry'));
    poll();
  }
})();
