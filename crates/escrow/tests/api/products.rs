//! `/products`: ownership, soft deletion and keyset paging.

use crate::escrow_support::on_both_databases_with;
use escrow::config::Config;
use futures::future::join_all;
use serde_json::json;
use std::collections::HashSet;

on_both_databases! {
    async fn seller_lists_updates_and_deletes(app: TestApp) {
        let seller = app.seller().await;
        let id = app.product(&seller, "중고 자전거", 150_000, 3).await;

        let product = app.get(&format!("/products/{id}"), None).await;
        let body = product.assert_status(200);
        assert_eq!(body["product_id"], id);
        assert_eq!(body["seller_id"], seller.id);
        assert_eq!(body["price"], 150_000);
        assert_eq!(body["stock"], 3);

        let update = json!({"name": "중고 자전거 (새 타이어)", "description": "거의 새것", "price": 170_000, "stock": 2});
        let updated = app.put(&format!("/products/{id}"), Some(&seller.token), update).await;
        assert_eq!(updated.assert_status(200)["success"], true);
        let body = app.get(&format!("/products/{id}"), None).await.body;
        assert_eq!(body["name"], "중고 자전거 (새 타이어)");
        assert_eq!(body["price"], 170_000);

        app.delete(&format!("/products/{id}"), Some(&seller.token)).await.assert_status(200);
        app.get(&format!("/products/{id}"), None).await.assert_problem(404, "not_found");
        let list = app.get("/products", None).await;
        assert!(list.body["items"].as_array().unwrap().is_empty());
        // The row stays for past orders.
        assert_eq!(app.count("products").await, 1);
        app.delete(&format!("/products/{id}"), Some(&seller.token)).await.assert_problem(404, "not_found");
    }

    async fn only_the_owner_changes_a_product(app: TestApp) {
        let owner = app.seller().await;
        let other = app.seller().await;
        let buyer = app.buyer().await;
        let id = app.product(&owner, "카메라", 300_000, 1).await;
        let update = json!({"name": "hijacked", "description": "", "price": 1, "stock": 0});

        for member in [&other, &buyer] {
            app.put(&format!("/products/{id}"), Some(&member.token), update.clone()).await.assert_problem(403, "forbidden");
            app.delete(&format!("/products/{id}"), Some(&member.token)).await.assert_problem(403, "forbidden");
        }
        app.put(&format!("/products/{id}"), None, update.clone()).await.assert_problem(401, "unauthorized");
        app.delete(&format!("/products/{id}"), None).await.assert_problem(401, "unauthorized");
        let body = app.get(&format!("/products/{id}"), None).await.body;
        assert_eq!(body["name"], "카메라");

        // Buyers do not sell.
        let listing = json!({"name": "x", "description": "", "price": 1000, "stock": 1});
        app.post("/products", Some(&buyer.token), listing).await.assert_problem(403, "forbidden");
        assert_eq!(app.count("products").await, 1);
    }

    async fn paging_has_no_repeats_or_gaps(app: TestApp) {
        let first = app.seller().await;
        let second = app.seller().await;
        let mut all_ids = Vec::new();
        let mut first_ids = Vec::new();
        for i in 0..45 {
            let seller = if i % 3 == 0 { &second } else { &first };
            let id = app.product(seller, &format!("상품 {i}"), 1000 + i, 5).await;
            all_ids.push(id);
            if i % 3 != 0 {
                first_ids.push(id);
            }
        }
        all_ids.reverse();
        first_ids.reverse();

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/products?limit=7&cursor={c}"),
                None => "/products?limit=7".to_string(),
            };
            let page = app.get(&path, None).await;
            let body = page.assert_status(200).clone();
            seen.extend(body["items"].as_array().unwrap().iter().map(|p| p["product_id"].as_i64().unwrap()));
            pages += 1;
            // A product listed while paging appears on no later page (it is newer).
            if pages == 2 {
                app.product(&first, "paging 중 추가", 999, 1).await;
            }
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 7);
        assert_eq!(seen, all_ids, "every product once, newest first");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45);

        let mut seller_seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/products?limit=100&seller_id={}", first.id);
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let body = app.get(&path, None).await.assert_status(200).clone();
            seller_seen.extend(body["items"].as_array().unwrap().iter().map(|p| p["product_id"].as_i64().unwrap()));
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seller_seen.len(), 31);
        assert_eq!(&seller_seen[1..], &first_ids[..]);
    }

    async fn concurrent_reads_each_get_their_own_answer(app: TestApp) {
        // On MySQL, catalogue reads that arrive together are sent as one statement: each
        // must still get exactly its own rows, in its own order, and its own 404.
        let first = app.seller().await;
        let second = app.seller().await;
        let mut ids = Vec::new();
        for i in 0..12 {
            let seller = if i % 2 == 0 { &first } else { &second };
            ids.push(app.product(seller, &format!("동시 {i}"), 1000 + i, 1).await);
        }
        app.delete(&format!("/products/{}", ids[5]), Some(&second.token)).await.assert_status(200);

        let mut paths: Vec<String> = ids.iter().map(|id| format!("/products/{id}")).collect();
        paths.push("/products/999999".into());
        paths.extend((1..=4).map(|limit| format!("/products?limit={limit}")));
        paths.push(format!("/products?limit=2&seller_id={}", second.id));
        let mut cursor = None;
        while let Some(next) = app
            .get(&format!("/products?limit=3{}", cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default()), None)
            .await
            .assert_status(200)["next_cursor"]
            .as_str()
            .map(str::to_string)
        {
            paths.push(format!("/products?limit=3&cursor={next}"));
            cursor = Some(next);
        }

        let mut expected = Vec::new();
        for path in &paths {
            let answer = app.get(path, None).await;
            expected.push((answer.status, answer.body));
        }
        assert_eq!(expected.iter().filter(|(status, _)| status.as_u16() == 404).count(), 2);

        // Every path four times, forwards and backwards, all at once.
        let n = paths.len();
        let order: Vec<usize> = (0..4 * n).map(|i| if (i / n).is_multiple_of(2) { i % n } else { n - 1 - i % n }).collect();
        let answers = join_all(order.iter().map(|&i| app.get(&paths[i], None))).await;
        for (&i, answer) in order.iter().zip(answers) {
            assert_eq!((answer.status, &answer.body), (expected[i].0, &expected[i].1), "{}", paths[i]);
        }
    }

    async fn search_by_name(app: TestApp) {
        let seller = app.seller().await;
        app.product(&seller, "Vintage Camera", 10_000, 1).await;
        app.product(&seller, "camera strap", 5_000, 1).await;
        app.product(&seller, "노트북 100%_정품", 900_000, 1).await;
        let names = |body: &serde_json::Value| -> Vec<String> {
            body["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
        };
        let found = app.get("/products?q=CAMERA", None).await;
        assert_eq!(names(found.assert_status(200)), vec!["camera strap", "Vintage Camera"]);
        let found = app.get("/products?q=100%25_", None).await;
        assert_eq!(names(found.assert_status(200)), vec!["노트북 100%_정품"]);
        let found = app.get("/products?q=%25", None).await;
        assert_eq!(names(found.assert_status(200)), vec!["노트북 100%_정품"]);
        let none = app.get("/products?q=zzz", None).await;
        assert!(names(none.assert_status(200)).is_empty());
    }
}

/// A search window of 3 product ids per call.
fn narrow_search_window(config: &mut Config) {
    config.search_window = 3;
}

on_both_databases_with! { narrow_search_window =>
    async fn a_search_goes_through_the_catalogue_a_window_at_a_time(app: TestApp) {
        let seller = app.seller().await;
        let mut ids = Vec::new();
        for name in ["lamp 1", "desk", "chair", "lamp 2", "rug", "lamp 3", "shelf", "lamp 4"] {
            ids.push(app.product(&seller, name, 1_000, 1).await);
        }
        app.delete(&format!("/products/{}", ids[5]), Some(&seller.token)).await.assert_status(200);

        // Newest first, two at a time, each call reading 3 ids: short pages, an empty one,
        // and every live lamp exactly once.
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/products?q=LAMP&limit=2&cursor={cursor}"),
                None => "/products?q=LAMP&limit=2".to_string(),
            };
            let page = app.get(&path, None).await;
            let body = page.assert_status(200);
            let names: Vec<String> = body["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
            pages.push(names);
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
            assert!(pages.len() < 10, "the search does not end: {pages:?}");
        }
        // Ids 8..6 hold "lamp 4" (6 is deleted), 5..3 "lamp 2", 2..1 "lamp 1".
        assert_eq!(pages, vec![vec!["lamp 4"], vec!["lamp 2"], vec!["lamp 1"]]);

        // A page fills before its window ends: the cursor is its last item's.
        let page = app.get("/products?q=L&limit=1", None).await;
        let body = page.assert_status(200);
        assert_eq!(body["items"][0]["name"], "lamp 4");
        let next = body["next_cursor"].as_str().unwrap().to_string();
        let page = app.get(&format!("/products?q=L&limit=1&cursor={next}"), None).await;
        assert_eq!(page.assert_status(200)["items"][0]["name"], "shelf");

        // Without a search the window does not apply.
        let all = app.get("/products?limit=100", None).await;
        assert_eq!(all.assert_status(200)["items"].as_array().unwrap().len(), 7);
    }
}
