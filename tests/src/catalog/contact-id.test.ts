import { describe, expect, it } from 'vitest';
import { lookupCode } from '../../../src/catalog/index.js';
import { classify } from '../../../src/classify/classify.js';
import { emptySignal, type Signal } from '../../../src/model/signal.js';

/**
 * Contact ID code → its SIA equivalents for qualifier 1 (new/opening) and 3 (restore/closing), the standard
 * part of eavanvalkenburg/pysiaalarm:src/pysiaalarm/data/adm_mapping.py (the entries before its Ajax additions).
 * Codes that neither table lists (359-360, 470-473 are not in DC-05 Appendix C as protocols.md §1.5 gives it)
 * are skipped by the test, which says so.
 */
const CID_TO_SIA: ReadonlyArray<readonly [cid: string, onNew: string, onRestore: string]> = [
  ["100", "MA", "MH"],
  ["101", "QA", "QH"],
  ["110", "FA", "FH"],
  ["111", "FA", "FH"],
  ["112", "FA", "FH"],
  ["113", "WA", "WH"],
  ["114", "KA", "KH"],
  ["117", "FA", "FH"],
  ["120", "PA", "PH"],
  ["121", "HA", "HH"],
  ["122", "HA", "HH"],
  ["124", "HA", "HH"],
  ["125", "HA", "HH"],
  ["130", "BA", "BH"],
  ["131", "BA", "BH"],
  ["132", "BA", "BH"],
  ["133", "BA", "BH"],
  ["134", "BA", "BH"],
  ["135", "BA", "BH"],
  ["136", "BA", "BH"],
  ["137", "TA", "TR"],
  ["138", "BA", "BH"],
  ["139", "BA", "BH"],
  ["140", "BA", "BH"],
  ["143", "ET", "ER"],
  ["144", "TA", "TR"],
  ["146", "HA", "HH"],
  ["150", "UA", "UH"],
  ["151", "GA", "GH"],
  ["158", "KA", "KH"],
  ["159", "ZA", "ZH"],
  ["162", "GA", "GH"],
  ["300", "YX", "YZ"],
  ["301", "AT", "AR"],
  ["302", "YT", "YR"],
  ["303", "YX", "YZ"],
  ["304", "YX", "YZ"],
  ["305", "YW", "YZ"],
  ["306", "YX", "YZ"],
  ["307", "YX", "YZ"],
  ["308", "YX", "YZ"],
  ["309", "YT", "YR"],
  ["310", "YX", "YZ"],
  ["311", "YM", "YR"],
  ["312", "YP", "YQ"],
  ["320", "RC", "RO"],
  ["321", "YX", "YZ"],
  ["322", "YX", "YZ"],
  ["323", "RC", "RO"],
  ["324", "RC", "RO"],
  ["325", "RC", "RO"],
  ["330", "YX", "YZ"],
  ["331", "YX", "YZ"],
  ["332", "YX", "YZ"],
  ["333", "ET", "ER"],
  ["334", "YX", "YZ"],
  ["335", "VO", "VI"],
  ["336", "VT", "VR"],
  ["337", "ET", "ER"],
  ["338", "ET", "ER"],
  ["339", "ET", "ER"],
  ["341", "ET", "ER"],
  ["342", "ET", "ER"],
  ["343", "ET", "ER"],
  ["344", "YC", "YK"],
  ["350", "YC", "YK"],
  ["351", "LT", "LR"],
  ["352", "LT", "LR"],
  ["353", "YC", "YK"],
  ["354", "YC", "YK"],
  ["355", "YC", "YK"],
  ["356", "YC", "YK"],
  ["357", "YC", "YK"],
  ["358", "YC", "YK"],
  ["359", "YC", "YK"],
  ["360", "YC", "YK"],
  ["373", "FT", "FJ"],
  ["374", "EA", "BH"],
  ["375", "PT", "PJ"],
  ["376", "HT", "HR"],
  ["380", "YX", "YZ"],
  ["381", "YC", "YK"],
  ["382", "YC", "YK"],
  ["393", "YX", "YZ"],
  ["400", "OP", "CL"],
  ["401", "OP", "CL"],
  ["402", "OB", "CB"],
  ["403", "OA", "CA"],
  ["406", "OC", "OC"],
  ["407", "OQ", "CQ"],
  ["408", "OP", "CL"],
  ["409", "OS", "CS"],
  ["412", "RB", "RB"],
  ["414", "YT", "YT"],
  ["421", "DD", "DD"],
  ["423", "DF", "DF"],
  ["441", "CG", "CG"],
  ["453", "OI", "OI"],
  ["454", "CI", "CI"],
  ["456", "CG", "OG"],
  ["457", "EE", "EE"],
  ["461", "DD", "DD"],
  ["462", "DO", "DO"],
  ["463", "YY", "YY"],
  ["470", "BB", "BB"],
  ["471", "FB", "FB"],
  ["473", "BB", "BB"],
  ["570", "BB", "BU"],
  ["601", "RX", "RX"],
  ["602", "RP", "RP"],
  ["604", "FX", "FK"],
  ["608", "TX", "TX"],
  ["622", "JL", "JL"],
  ["623", "JL", "JL"],
  ["624", "JO", "JO"],
  ["625", "JT", "JT"],
  ["626", "JD", "JD"],
  ["627", "LB", "LB"],
  ["628", "LX", "LX"],
  ["632", "JS", "JS"],
  ["654", "NA", "NA"],
  ["900", "RR", "RR"],];

/**
 * Deliberate differences, each with the reason and its source. Key: `<cid>/<qualifier>`.
 * Everything else must give the same category through both tables.
 */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  '113/1': 'DC-05 113 "water flow" is a sprinkler (fire) alarm, protocols.md §1.5 fire group; SIA SA, not WA, is its equivalent',
  '113/3': 'as 113/1',
  '121/1': 'SIA has no duress-only code: HA carries duress and hold-up (protocols.md §1.6, §5.2); both are duress: true',
  '121/3': 'as 121/1',
  '124/1': 'duress at a door has no SIA code (protocols.md §5.2); HA is hold-up; both are duress: true',
  '124/3': 'as 124/1',
  '125/1': 'as 124/1',
  '125/3': 'as 124/1',
  '146/1': 'DC-05 146 is "silent burglary" (protocols.md §1.5); pysiaalarm maps it to HA, which would turn a burglary into a hold-up',
  '146/3': 'as 146/1',
  '320/1': 'DC-05 320-325 are troubles of a sounder or relay circuit; SIA RC/RO report a relay state, no trouble',
  '320/3': 'as 320/1',
  '323/1': 'as 320/1',
  '323/3': 'as 320/1',
  '324/1': 'as 320/1',
  '324/3': 'as 320/1',
  '325/1': 'as 320/1',
  '325/3': 'as 320/1',
  '341/1': 'DC-05 341 "expansion module tamper" is a tamper; its SIA equivalent is ES (expansion device tamper), not ET',
  '341/3': 'as 341/1',
  '376/3': 'a hold-up zone TROUBLE restore is not a hold-up: the SIA equivalent is HJ (holdup trouble restore), pysiaalarm says HR',
  '402/3': 'pysiaalarm maps a group closing to CB, which its table defines as the Ajax "group disarmed automatically"',
  '414/1': 'DC-05 414 "system shutdown command received" (remote access); pysiaalarm\'s YT is a battery trouble',
  '414/3': 'as 414/1',
  '441/1': 'DC-05 4xx: qualifier 1 is an opening (protocols.md §1.4); pysiaalarm maps both qualifiers of 441 to CG',
  '456/1': 'DC-05 4xx: qualifier 1 is an opening, 3 a closing (protocols.md §1.4); pysiaalarm maps 456 the other way round',
  '456/3': 'as 456/1',
  '461/1': 'DC-05 461 "wrong code entry" is a code tamper (SIA JA); pysiaalarm says DD (access denied at a door)',
  '461/3': 'as 461/1',
  '462/1': 'DC-05 462 "legal code entry" is a status; SIA DO "access open" puts a door in free access',
  '462/3': 'as 462/1',
  '463/1': 'DC-05 463 "re-arm after alarm" is a closing; YY is a status-report header',
  '463/3': 'as 463/1',
};

function signal(scheme: 'contact-id' | 'sia', value: string, qualifier: Signal['qualifier']): Signal {
  return { ...emptySignal(scheme === 'sia' ? 'sia-dcs' : 'adm-cid'), code: { scheme, value }, qualifier, address: 1 };
}

const pairs = CID_TO_SIA.flatMap(([cid, onNew, onRestore]) => [
  { key: `${cid}/1`, cid, qualifier: 'new' as const, sia: onNew },
  { key: `${cid}/3`, cid, qualifier: 'restore' as const, sia: onRestore },
]).filter((p) => lookupCode('contact-id', p.cid) !== undefined && lookupCode('sia', p.sia) !== undefined);

describe('one meaning per code across the Contact ID and SIA tables', () => {
  it('walks the codes both tables know (the rest is named)', () => {
    const skipped = CID_TO_SIA.filter(([cid, a, b]) => !lookupCode('contact-id', cid) || !lookupCode('sia', a) || !lookupCode('sia', b));
    expect(skipped.map(([cid]) => cid)).toEqual(['359', '360', '470', '471', '473']);
    expect(pairs.length).toBeGreaterThan(220);
  });

  it.each(pairs.map((p) => [p.key, p] as const))('Contact ID %s', (key, p) => {
    const viaCid = classify(signal('contact-id', p.cid, p.qualifier), {});
    const viaSia = classify(signal('sia', p.sia, null), {});
    const exception = EXCEPTIONS[key];
    if (exception === undefined) {
      expect(viaCid.category, `CID ${key} vs SIA ${p.sia}`).toBe(viaSia.category);
    } else {
      expect(viaCid.category, `${key} is listed as an exception but agrees: remove it`).not.toBe(viaSia.category);
    }
    // Whatever the exceptions, a duress reading never depends on the table.
    if (!['146/1', '146/3', '376/3'].includes(key)) expect(viaCid.duress, key).toBe(viaSia.duress);
  });

  it('gives 453/454/457/150/158/900 their DC-05 meaning', () => {
    expect(classify(signal('contact-id', '453', 'new'), {}).category).toBe('status');
    expect(classify(signal('contact-id', '454', 'new'), {}).category).toBe('status');
    expect(classify(signal('contact-id', '457', 'new'), {}).category).toBe('burglary');
    expect(classify(signal('contact-id', '150', 'new'), {}).category).toBe('burglary');
    expect(classify(signal('contact-id', '158', 'new'), {}).category).toBe('fire');
    // 900-902 name the downloader of a download session (Ademco list, hubitat_envisalink CID table "DLID"): never a
    // user, so a site's duress user of the same number does not make a download a duress.
    for (const code of ['900', '901', '902']) {
      const c = classify({ ...signal('contact-id', code, 'new'), address: 12 }, {});
      expect([c.user, c.number], code).toEqual([null, { kind: 'downloader', value: 12 }]);
    }
  });

  // hubitat_envisalink's CID table: "129": ["Panic Verifier", "Zone", "A confirmed Hold-up condition exists"];
  // pysiaalarm adm_mapping.py (its Ajax block): "129": {"1": "HV"}, hold-up confirmed.
  it('reads 129 and its Ajax SIA pair HV, a confirmed hold-up, as a hold-up of the zone', () => {
    for (const c of [classify({ ...signal('contact-id', '129', 'new'), address: 5 }, {}), classify({ ...signal('sia', 'HV', null), address: 5 }, {})]) {
      expect(c).toMatchObject({ category: 'holdup', duress: true, silent: true, zone: { number: 5 } });
    }
  });

  it('knows the further codes of the public Ademco list (hubitat_envisalink CID table)', () => {
    for (const code of ['168', '169', '316', '345', '358', '394', '443', '655', '903', '904'])
      expect(classify(signal('contact-id', code, 'new'), {}).category, code).not.toBe('unrecognized');
  });
});
