//! The generated pages and completions: they render without a warning from man(1), list
//! every option and key, match what meson installs, and do not change between runs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use libstas::config::doc;
use libstas::config::service::Layout;
use libstas::config::Daemon;
use stas_doc::{completions, man_pages, programs, write_all, Output};

fn page(name: &str) -> String {
    man_pages()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no page {name}"))
        .text
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// `man --warnings[=…] -l FILE` at 80 columns: what it prints on stderr.
fn man_warnings(file: &Path, warnings: &str) -> String {
    let out = Command::new("man")
        .arg(warnings)
        .arg("-l")
        .arg(file)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("man runs");
    assert!(out.status.success(), "man -l {}: {out:?}", file.display());
    assert!(
        !out.stdout.is_empty(),
        "{}: nothing rendered",
        file.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_page_renders_without_warnings() {
    if !have("man") {
        eprintln!("man(1) is not installed: rendering not checked here (tools/install-check does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &man_pages()).unwrap();
    assert_eq!(files.len(), 14);
    for f in files {
        for w in ["--warnings", "--warnings=w"] {
            let stderr = man_warnings(&f, w);
            assert!(stderr.is_empty(), "{} ({w}):\n{stderr}", f.display());
        }
    }
}

#[test]
fn output_does_not_change_between_runs() {
    assert_eq!(man_pages(), man_pages());
    assert_eq!(completions::outputs(), completions::outputs());
    for p in man_pages() {
        assert!(
            p.text
                .contains(&format!("\"stas {}\"", env!("CARGO_PKG_VERSION"))),
            "{}: no version in .TH",
            p.name
        );
    }
}

/// The file names stas-doc/meson.build installs, as quoted there.
fn meson_names() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("meson.build")).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for (i, quoted) in line.split('\'').enumerate() {
            if i % 2 == 1
                && (quoted.ends_with(".1") || quoted.ends_with(".5") || quoted.ends_with(".8"))
            {
                names.insert(quoted.to_owned());
            }
        }
    }
    names
}

#[test]
fn meson_installs_every_page_in_its_section() {
    let generated: BTreeSet<String> = man_pages().into_iter().map(|p| p.name).collect();
    assert_eq!(meson_names(), generated);
    for p in man_pages() {
        let section = p.name.rsplit('.').next().unwrap();
        assert!(
            p.text.contains(&format!(
                ".TH {} {section} ",
                p.name[..p.name.len() - 2].to_uppercase()
            )),
            "{}: .TH does not name its section",
            p.name
        );
    }
    let names: BTreeSet<String> = completions::outputs().into_iter().map(|o| o.name).collect();
    for cmd in programs::commands() {
        let n = cmd.get_name();
        for f in [n.to_owned(), format!("_{n}"), format!("{n}.fish")] {
            assert!(names.contains(&f), "{f}");
        }
    }
    assert_eq!(names.len(), 18);
}

#[test]
fn program_pages_show_every_option_and_command() {
    for cmd in programs::commands() {
        let name = cmd.get_name().to_owned();
        let text = man_pages()
            .into_iter()
            .find(|p| p.name.starts_with(&format!("{name}.")) && !p.name.contains(".conf"))
            .map(|p: Output| p.text)
            .unwrap_or_else(|| panic!("no page for {name}"));
        let mut all = vec![&cmd];
        all.extend(cmd.get_subcommands());
        for c in all {
            if c.get_name() != name {
                assert!(
                    text.contains(&format!(".SS {}", c.get_name()))
                        || text.contains(&format!(".SS \"{}", c.get_name())),
                    "{name}: command {}",
                    c.get_name()
                );
            }
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = a.get_long() {
                    let escaped = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(text.contains(&escaped), "{name}: --{long} missing");
                }
            }
        }
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "SEE ALSO",
        ] {
            assert!(
                text.contains(&format!(".SH {section}"))
                    || text.contains(&format!(".SH \"{section}\"")),
                "{name}: no {section}"
            );
        }
    }
    // Hidden options stay hidden (stasadm --root is for tests).
    assert!(!page("stasadm.8").contains("\\-\\-root"));
}

#[test]
fn configuration_pages_list_every_key_the_parsers_take() {
    for (daemon, file) in [
        (Daemon::Stafd, "stafd.conf.5"),
        (Daemon::Stacd, "stacd.conf.5"),
    ] {
        let text = page(file);
        for layout in [Layout::Stas2, Layout::Stas3] {
            for (section, keys) in doc::service_options(daemon, layout) {
                assert!(
                    text.contains(&format!("[{section}]")),
                    "{file}: [{section}]"
                );
                for key in *keys {
                    let head = format!("\\fB{}\\fR = ", key.replace('-', "\\-"));
                    assert!(text.contains(&head), "{file}: {key}");
                }
            }
        }
    }
    let text = page("nvme-stas.conf.5");
    for key in doc::nvmeconf_keys().chain(doc::nvmeconf_address_keys().iter().copied()) {
        assert!(
            text.contains(&format!("\\fB{}\\fR = ", key.replace('-', "\\-"))),
            "{key}"
        );
    }
    let text = page("sys.conf.5");
    for key in doc::sysconf_keys() {
        assert!(text.contains(&format!("\\fB{key}\\fR = ")), "{key}");
    }
}

#[test]
fn bash_completions_parse() {
    if !have("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &completions::outputs()).unwrap();
    for f in files.iter().filter(|f| {
        f.extension().is_none() && !f.file_name().unwrap().to_string_lossy().starts_with('_')
    }) {
        let out = Command::new("bash").arg("-n").arg(f).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stafctl = std::fs::read_to_string(dir.path().join("stafctl")).unwrap();
    assert!(
        stafctl.contains("--host-traddr"),
        "dlp's options are completed"
    );
}
