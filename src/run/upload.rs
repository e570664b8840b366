//! The commands printed after a `--to-dir` run to upload the tree on the other side of the
//! gap, ours and oc's, quoted so they can be pasted into a shell whatever the folder's name.

use std::path::Path;

use crate::reference::ImageRef;
use crate::release::Release;

/// Upload commands for the releases `loaded` written to `dir` under `repo` (and, with
/// `--graph-data-image`, the graph-data image: the upload names its repository and the
/// release repository the update service reads).
pub(crate) fn commands(dir: &Path, repo: &ImageRef, loaded: &[&Release], graph_data: Option<&ImageRef>) -> Vec<String> {
    let from_dir = quote(&format!("--from-dir={}", dir.display()));
    let repo = repo.name();
    let osus = match graph_data {
        Some(_) => " --to-release-repo=REGISTRY/RELEASE-REPO --graph-data-image=REGISTRY/GRAPH-DATA-REPO",
        None => "",
    };
    if let [release] = loaded {
        let tag = release.tag();
        return vec![
            format!(
                "To upload the release to a registry on the other side, run:\n\n  \
                 kubectl release-mirror {from_dir} --from={repo}:{tag} --to=REGISTRY/REPO{osus}"
            ),
            format!("Or with oc:\n\n  oc image mirror {from_dir} {} REGISTRY/REPO", quote(&format!("{repo}:{tag}*"))),
        ];
    }
    let oc: Vec<String> = loaded
        .iter()
        .map(|r| format!("  oc image mirror {from_dir} {} REGISTRY/REPO", quote(&format!("{repo}:{}*", r.tag()))))
        .collect();
    vec![
        format!(
            "To upload every release of the tree to a registry on the other side, run:\n\n  \
             kubectl release-mirror {from_dir} --to=REGISTRY/REPO{osus}"
        ),
        format!("Or with oc, one release at a time:\n\n{}", oc.join("\n")),
    ]
}

/// `text` as one shell word: unchanged when every character is safe, else in single quotes
/// (a `'` inside written as `'\''`).
pub fn quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_shell_syntax_are_single_quoted() {
        assert_eq!(quote("--from-dir=/media/usb/mirror"), "--from-dir=/media/usb/mirror");
        assert_eq!(quote("--from-dir=/media/my usb"), "'--from-dir=/media/my usb'");
        assert_eq!(quote("--from-dir=/m/$HOME"), "'--from-dir=/m/$HOME'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("file://openshift/release:4.15.0-x86_64*"), "'file://openshift/release:4.15.0-x86_64*'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn a_quoted_word_reads_back_as_itself_in_a_real_shell() {
        for text in ["/media/my usb", "a$b`c`\"d\"'e'\\f", "*?[x]", "tab\there"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(text))).output();
            let out = out.expect("run sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), text);
        }
    }
}
