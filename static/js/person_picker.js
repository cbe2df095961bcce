// Face swap's "generated person" widget: choose between a source photo and a generated person;
// for a person, pick a gender and an age, then one of a row of candidates from the face bank
// (GET /api/v1/studio/people/candidates); "Show others" asks for the next batch. The chosen
// candidate's id goes into the effect's `person` field; the source photo and its consent box are
// hidden meanwhile (hidden fields are not sent). Words come from the effect's `texts`.
(() => {
  const S = window.STUDIO;
  const GENDERS = ['female', 'male'];
  const BANDS = ['child', 'teen', 'young', 'adult', 'senior'];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function element(tag, attrs = {}, text = '') {
    const node = document.createElement(tag);
    Object.entries(attrs).forEach(([key, value]) => node.setAttribute(key, value));
    if (text) node.textContent = text;
    return node;
  }

  function select(label, name, values, T, chosen) {
    const box = element('label', { class: 'person-choice' }, '');
    box.append(document.createTextNode(`${label} `));
    const field = element('select', { name, 'aria-label': label });
    values.forEach((value) => {
      const option = element('option', { value }, T[value] || value);
      if (value === chosen) option.selected = true;
      field.append(option);
    });
    box.append(field);
    return [box, field];
  }

  S.widgets.generated_person = {
    mount(slot, { field, options, spec, api }) {
      const T = spec.texts || {};
      const candidatesUrl = (spec.urls || {}).candidates;
      const box = slot.closest('.effect-widget-box');
      const input = spec.inputs.find((item) => item.instead === field.dataset.param);
      const photoLabel = input && options.querySelector(`[data-instead="${input.instead}"]`);
      const consent = input && options.querySelector(`[data-required-with="${input.role}"]`);
      const notice = options.querySelector('.effect-notice');

      // Whose face goes in: a source photo (with its consent box) or a generated person.
      const mode = element('fieldset', { class: 'person-mode' });
      mode.append(element('legend', {}, T.whose_face));
      const radios = {};
      [['photo', T.from_photo], ['person', T.from_person]].forEach(([value, text], i) => {
        const label = element('label', { class: 'check' });
        const radio = element('input', { type: 'radio', name: `${spec.name}-face-from`, value });
        if (i === 0) radio.checked = true;
        radios[value] = radio;
        label.append(radio, document.createTextNode(` ${text}`));
        mode.append(label);
      });
      options.prepend(mode);

      const [genderBox, gender] = select(T.gender, 'person-gender', GENDERS, T, 'female');
      const [ageBox, age] = select(T.age, 'person-age', BANDS, T, 'young');
      const row = element('div', { class: 'person-row', role: 'radiogroup', 'aria-label': T.choose });
      const others = element('button', { type: 'button', class: 'button', id: 'person-others' }, T.others);
      const status = element('p', { class: 'muted small person-status', role: 'status' });
      const free = element('p', { class: 'muted small' }, T.no_consent);
      const bar = element('div', { class: 'person-filters' });
      bar.append(genderBox, ageBox, others);
      slot.append(bar, row, status, free);

      let batch = 0;
      let token = 0;
      const setMode = () => {
        const person = radios.person.checked;
        box.hidden = !person;
        if (photoLabel) photoLabel.hidden = person;
        if (consent) consent.hidden = person;
        if (notice) notice.hidden = !person;
        field.dataset.missing = person ? T.choose : '';
        if (person && !row.children.length) load();
      };

      function choose(button, id) {
        row.querySelectorAll('.person').forEach((other) => {
          const on = other === button;
          other.classList.toggle('chosen', on);
          other.setAttribute('aria-checked', on ? 'true' : 'false');
        });
        field.value = id;
      }

      function show(candidates) {
        const keep = field.value;
        row.replaceChildren(...candidates.map((candidate) => {
          const button = element('button', {
            type: 'button', class: 'person', role: 'radio', 'aria-checked': 'false',
            'data-person': candidate.id, title: (T.person || '%(id)s').replace('%(id)s', candidate.id),
          });
          const image = element('img', { src: candidate.thumbnail_url, alt: (T.person || '%(id)s').replace('%(id)s', candidate.id), width: '112', height: '112' });
          const mark = element('span', { class: 'person-mark' }, `✓ ${T.chosen}`);
          button.append(image, mark);
          button.addEventListener('click', () => choose(button, candidate.id));
          return button;
        }));
        const again = row.querySelector(`[data-person="${keep}"]`);
        const first = again || row.querySelector('.person');
        if (first) choose(first, first.dataset.person);
        else field.value = '';
      }

      async function load() {
        const mine = ++token;
        status.textContent = T.loading;
        const query = new URLSearchParams({ gender: gender.value, age_band: age.value, batch: String(batch) });
        for (let tries = 0; tries < 300; tries += 1) {
          const { response, data } = await api(`${candidatesUrl}?${query}`);
          if (mine !== token) return;
          if (response.status === 202) {
            if ((data.candidates || []).length) show(data.candidates);
            status.textContent = tries >= 15 ? T.no_worker : (data.message || T.making);
            await sleep(2000);
            continue;
          }
          if (!response.ok) {
            status.textContent = `${T.failed} ${data.message || response.statusText}`;
            return;
          }
          show(data.candidates);
          status.textContent = '';
          return;
        }
      }

      Object.values(radios).forEach((radio) => radio.addEventListener('change', setMode));
      [gender, age].forEach((choice) => choice.addEventListener('change', () => {
        batch = 0;
        field.value = '';
        load();
      }));
      others.addEventListener('click', () => { batch += 1; load(); });
      setMode();
    },
  };
})();
