/**
 * Letters of other scripts that look like Latin ones, after Unicode's confusables.txt (UTS #39), lower case only:
 * the text is lower-cased first. A sender that writes "Durеss" with a Cyrillic е must not pass it unlabelled.
 */
const LATIN_LOOKALIKES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    'а': 'a', 'α': 'a', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'ε': 'e', 'һ': 'h', 'і': 'i', 'ι': 'i', 'ј': 'j', 'о': 'o', 'ο': 'o',
    'р': 'p', 'ρ': 'p', 'ԛ': 'q', 'г': 'r', 'ѕ': 's', 'υ': 'u', 'ս': 'u', 'ν': 'v', 'ԝ': 'w', 'х': 'x', 'χ': 'x', 'у': 'y',
  }),
);

/**
 * Text as it reads: compatibility forms (full-width letters, ligatures) and accents folded (NFKD, marks dropped),
 * invisible format characters (zero-width space, soft hyphen, direction marks) removed, look-alike letters read as
 * Latin, lower case.
 */
function foldLookalikes(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\p{Mn}\p{Cf}]/gu, '')
    .toLowerCase()
    .replace(/[^\u0000-\u007f]/g, (letter) => LATIN_LOOKALIKES.get(letter) ?? letter);
}

/** Whether a text a sender chose (an access event type, an element of its document) names a duress, however spelled. */
export function namesDuress(text: string): boolean {
  return foldLookalikes(text).includes('duress');
}
