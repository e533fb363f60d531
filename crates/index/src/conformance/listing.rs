//! Paginated listing: order, prefix filter, page boundaries, and a page
//! token that survives inserts and deletes between pages.

use std::sync::Arc;

use super::fixtures::{commit, tenant, tid};
use crate::{Index, IndexError};

async fn names(index: &Arc<dyn Index>, owner: &str, prefix: &str, limit: usize) -> Vec<String> {
    let (mut all, mut token) = (Vec::new(), None::<String>);
    loop {
        let (page, next) = index
            .list_blobs(&tid(owner), prefix, token.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit.max(1));
        all.extend(page.into_iter().map(|b| b.name));
        match next {
            Some(next) => token = Some(next),
            None => return all,
        }
    }
}

/// Blob listings page by name within one owner, honour the name prefix,
/// and neither skip nor repeat a blob committed between pages.
pub async fn list_pagination_prefix_and_inserts_between_pages(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", 1 << 40)).await.unwrap();
    index.create_tenant(tenant("u", 1 << 40)).await.unwrap();
    let t = tid("t");
    for name in ["a/2", "a/4", "a/1", "a/3", "a/5", "b/1", "a", "a0"] {
        commit(&index, &t, name, &[name]).await;
    }
    commit(&index, &tid("u"), "a/9", &["u-a9"]).await;

    assert_eq!(
        names(&index, "t", "", 3).await,
        ["a", "a/1", "a/2", "a/3", "a/4", "a/5", "a0", "b/1"]
    );
    assert_eq!(
        names(&index, "t", "a/", 2).await,
        ["a/1", "a/2", "a/3", "a/4", "a/5"]
    );
    assert_eq!(
        names(&index, "t", "a/", 5).await.len(),
        5,
        "exact page boundary"
    );
    assert_eq!(names(&index, "t", "zzz", 2).await, Vec::<String>::new());
    assert_eq!(
        names(&index, "u", "", 10).await,
        ["a/9"],
        "tenants are isolated"
    );
    assert_eq!(
        names(&index, "t", "a/", 0).await.len(),
        5,
        "limit 0 still pages"
    );

    // Two blobs with one name: ordered by blob id, both listed.
    let twin = commit(&index, &t, "a/3", &["a/3-twin"]).await;
    assert_eq!(names(&index, "t", "a/3", 1).await, ["a/3", "a/3"]);

    // Changes between pages: the token is a position, not an offset.
    let (first, token) = index.list_blobs(&t, "a/", None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    commit(&index, &t, "a/0", &["a/0"]).await; // before the position: not seen
    commit(&index, &t, "a/9", &["a/9"]).await; // after: seen
    let a4 = index
        .list_blobs(&t, "a/4", None, 1)
        .await
        .unwrap()
        .0
        .remove(0);
    assert!(index.delete_blob(&t, &a4.blob_id).await.unwrap());
    index.delete_blob(&t, &twin.blob.blob_id).await.unwrap();
    let (mut rest, mut token) = (Vec::new(), token);
    while let Some(tok) = token {
        let (page, next) = index.list_blobs(&t, "a/", Some(&tok), 2).await.unwrap();
        rest.extend(page.into_iter().map(|b| b.name));
        token = next;
    }
    assert_eq!(rest, ["a/3", "a/5", "a/9"]);

    for bad in ["", "garbage", "p1.zz.00", "p1.61.abc"] {
        let r = index.list_blobs(&t, "", Some(bad), 2).await;
        assert!(
            matches!(r, Err(IndexError::Invalid { .. })),
            "token {bad:?}"
        );
    }
}
