use super::*;
use crate::test_support::{TempDir, route};

#[cfg(unix)]
#[test]
fn symlink_loops_are_read_once() {
    let dir = TempDir::new();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).expect("create conf");
    std::fs::write(conf.join("routes.yaml"), route("main", "a.test", "/", "a")).expect("write");
    std::fs::write(
        dir.path().join("outer.yaml"),
        route("outer", "b.test", "/", "b"),
    )
    .expect("write");
    std::os::unix::fs::symlink(&conf, conf.join("self")).expect("link to itself");
    std::os::unix::fs::symlink("..", conf.join("up")).expect("link to parent");

    let sources = read_sources(&conf).expect("folder reads");
    let (resources, diagnostics) = flatten(sources);

    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let mut names: Vec<String> = resources
        .iter()
        .map(|resource| resource_key(resource).name)
        .collect();
    names.sort();
    assert_eq!(names, ["main", "outer"]);
}

#[test]
fn duplicate_error_names_every_file() {
    let origins = vec![
        (
            ObjectRef::new("Route", "default", "same"),
            PathBuf::from("b.yaml"),
        ),
        (
            ObjectRef::new("Route", "default", "same"),
            PathBuf::from("a.yaml"),
        ),
        (
            ObjectRef::new("Route", "default", "other"),
            PathBuf::from("c.yaml"),
        ),
    ];
    let error = FieldError::new("metadata.name", DUPLICATE_REASON, "another Route");
    let object = ObjectRef::new("Route", "default", "same");
    let mut diagnostics = vec![Diagnostic::rejected(object, None, vec![error])];

    name_duplicate_files(&origins, &mut diagnostics);

    assert_eq!(
        diagnostics[0].errors[0].message,
        "another Route; copies are in a.yaml, b.yaml"
    );
}
