//! The region list (API reference §6): the single source for DescribeRegions and for which
//! `RegionId` values every other action accepts.
//!
//! zh-CN and ja names follow the current console style; they are best-effort translations,
//! since the reference only pins the English names.

/// One region as DescribeRegions reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub id: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
    pub name_ja: &'static str,
    pub endpoint: &'static str,
}

macro_rules! regions {
    ($( ($id:literal, $en:literal, $zh:literal, $ja:literal, $ep:literal), )*) => {
        /// Every region, in the order DescribeRegions lists them.
        pub const REGIONS: &[Region] = &[ $( Region { id: $id, name_en: $en, name_zh: $zh, name_ja: $ja, endpoint: $ep }, )* ];
    };
}

regions! {
    ("cn-qingdao", "China (Qingdao)", "华北1（青岛）", "中国 (青島)", "ecs.aliyuncs.com"),
    ("cn-beijing", "China (Beijing)", "华北2（北京）", "中国 (北京)", "ecs.aliyuncs.com"),
    ("cn-zhangjiakou", "China (Zhangjiakou)", "华北3（张家口）", "中国 (張家口)", "ecs.cn-zhangjiakou.aliyuncs.com"),
    ("cn-huhehaote", "China (Hohhot)", "华北5（呼和浩特）", "中国 (フフホト)", "ecs.cn-huhehaote.aliyuncs.com"),
    ("cn-wulanchabu", "China (Ulanqab)", "华北6（乌兰察布）", "中国 (ウランチャブ)", "ecs.cn-wulanchabu.aliyuncs.com"),
    ("cn-hangzhou", "China (Hangzhou)", "华东1（杭州）", "中国 (杭州)", "ecs.aliyuncs.com"),
    ("cn-shanghai", "China (Shanghai)", "华东2（上海）", "中国 (上海)", "ecs.aliyuncs.com"),
    ("cn-nanjing", "China (Nanjing - Local Region)", "华东5（南京-本地地域）", "中国 (南京 - ローカルリージョン)", "ecs.cn-nanjing.aliyuncs.com"),
    ("cn-fuzhou", "China (Fuzhou - Local Region)", "华东6（福州-本地地域）", "中国 (福州 - ローカルリージョン)", "ecs.cn-fuzhou.aliyuncs.com"),
    ("cn-shenzhen", "China (Shenzhen)", "华南1（深圳）", "中国 (深セン)", "ecs.aliyuncs.com"),
    ("cn-heyuan", "China (Heyuan)", "华南2（河源）", "中国 (河源)", "ecs.cn-heyuan.aliyuncs.com"),
    ("cn-guangzhou", "China (Guangzhou)", "华南3（广州）", "中国 (広州)", "ecs.cn-guangzhou.aliyuncs.com"),
    ("cn-chengdu", "China (Chengdu)", "西南1（成都）", "中国 (成都)", "ecs.cn-chengdu.aliyuncs.com"),
    ("cn-hongkong", "China (Hong Kong)", "中国香港", "中国 (香港)", "ecs.aliyuncs.com"),
    ("ap-northeast-1", "Japan (Tokyo)", "日本（东京）", "日本 (東京)", "ecs.ap-northeast-1.aliyuncs.com"),
    ("ap-northeast-2", "South Korea (Seoul)", "韩国（首尔）", "韓国 (ソウル)", "ecs.ap-northeast-2.aliyuncs.com"),
    ("ap-southeast-1", "Singapore", "新加坡", "シンガポール", "ecs.aliyuncs.com"),
    ("ap-southeast-3", "Malaysia (Kuala Lumpur)", "马来西亚（吉隆坡）", "マレーシア (クアラルンプール)", "ecs.ap-southeast-3.aliyuncs.com"),
    ("ap-southeast-5", "Indonesia (Jakarta)", "印度尼西亚（雅加达）", "インドネシア (ジャカルタ)", "ecs.ap-southeast-5.aliyuncs.com"),
    ("ap-southeast-6", "Philippines (Manila)", "菲律宾（马尼拉）", "フィリピン (マニラ)", "ecs.ap-southeast-6.aliyuncs.com"),
    ("ap-southeast-7", "Thailand (Bangkok)", "泰国（曼谷）", "タイ (バンコク)", "ecs.ap-southeast-7.aliyuncs.com"),
    ("us-east-1", "US (Virginia)", "美国（弗吉尼亚）", "米国 (バージニア)", "ecs.aliyuncs.com"),
    ("us-west-1", "US (Silicon Valley)", "美国（硅谷）", "米国 (シリコンバレー)", "ecs.aliyuncs.com"),
    ("eu-west-1", "UK (London)", "英国（伦敦）", "イギリス (ロンドン)", "ecs.eu-west-1.aliyuncs.com"),
    ("eu-central-1", "Germany (Frankfurt)", "德国（法兰克福）", "ドイツ (フランクフルト)", "ecs.eu-central-1.aliyuncs.com"),
    ("me-east-1", "UAE (Dubai)", "阿联酋（迪拜）", "アラブ首長国連邦 (ドバイ)", "ecs.me-east-1.aliyuncs.com"),
    ("me-central-1", "Saudi Arabia (Riyadh - Partner Region)", "沙特（利雅得）- 合作伙伴运营", "サウジアラビア (リヤド - パートナーリージョン)", "ecs.me-central-1.aliyuncs.com"),
}

/// The region with id `id` (exact, case-sensitive like the real service).
pub fn find(id: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.id == id)
}

/// The `HostId` an error reports: the region's endpoint, or the central one.
pub fn host_id(region_id: Option<&str>) -> &'static str {
    region_id
        .and_then(find)
        .map(|r| r.endpoint)
        .unwrap_or("ecs.aliyuncs.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_lookups_are_exact() {
        for (i, r) in REGIONS.iter().enumerate() {
            assert!(REGIONS[i + 1..].iter().all(|o| o.id != r.id), "{}", r.id);
        }
        assert_eq!(find("cn-hangzhou").unwrap().name_en, "China (Hangzhou)");
        assert!(find("CN-HANGZHOU").is_none());
        assert!(
            find("ap-southeast-2").is_none(),
            "closed regions are not listed"
        );
        // The reference infers that finance and government regions exist but are not
        // returned to ordinary accounts; the mock serves an ordinary account.
        for restricted in [
            "cn-shanghai-finance-1",
            "cn-shenzhen-finance-1",
            "cn-beijing-finance-1",
            "cn-north-2-gov-1",
        ] {
            assert!(find(restricted).is_none(), "{restricted}");
        }
        // RegionEndpoint as the captured answers give it: the older central regions share
        // the central endpoint, newer ones have their own.
        assert_eq!(find("cn-qingdao").unwrap().endpoint, "ecs.aliyuncs.com");
        assert_eq!(find("us-west-1").unwrap().endpoint, "ecs.aliyuncs.com");
        assert_eq!(
            find("cn-zhangjiakou").unwrap().endpoint,
            "ecs.cn-zhangjiakou.aliyuncs.com"
        );
        assert_eq!(host_id(Some("eu-west-1")), "ecs.eu-west-1.aliyuncs.com");
        assert_eq!(host_id(Some("nowhere")), "ecs.aliyuncs.com");
    }
}
