package tipsim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// The generator invents data in TIP's shapes (shared/tip-api.md §2, and the
// real answers in fixtures/). Each section draws from its own generator seeded
// by (type, indicator, section), so a section's data does not depend on which
// other sections were asked for, and a list cut to count is always a prefix of
// the same list cut to a larger count. Facts that several sections share (the
// network an IP belongs to, whether a file is signed, a domain's WHOIS) are
// drawn from seeds of their own so the sections agree.

// Date layouts TIP uses: general-info and WHOIS dates with seconds, list items
// to the minute, detections with fractional seconds.
const (
	layoutSeconds  = "2006-01-02T15:04:05Z"
	layoutMinutes  = "2006-01-02T15:04Z"
	layoutFraction = "2006-01-02T15:04:05.999Z"
)

// maxRecords bounds every generated list.
const maxRecords = 40

// epoch is the generator's "now": fixed, so answers never change with the
// clock.
func epoch() time.Time { return time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC) }

// object is a JSON object whose keys keep the order they were set in, so that
// answers read like TIP's and are byte-identical from run to run.
type object []member

type member struct {
	key   string
	value any
}

func (o *object) set(key string, value any) { *o = append(*o, member{key, value}) }

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// gen generates one section of one indicator.
type gen struct {
	r     *rng
	t     indicator.Type
	value string // canonical indicator
	zone  string // the indicator's zone
}

func newGen(t indicator.Type, value, zone, section string) *gen {
	return &gen{r: newRNG(string(t), value, section), t: t, value: value, zone: zone}
}

// shared returns a generator for a fact several sections must agree on.
func (g *gen) shared(fact string) *rng { return newRNG(string(g.t), g.value, "fact", fact) }

// generate returns the data of one section; false means the object has none,
// and the section is left out of the answer. Lists come back whole
// ([]any); the caller cuts them to count.
func generate(t indicator.Type, value, zone, section string) (any, bool) {
	g := newGen(t, value, zone, section)
	switch section {
	case "RelatedObjects":
		return g.relatedObjects(), true
	case "Industries":
		return g.industries(), true
	case "FileGeneralInfo":
		return g.fileGeneralInfo(), true
	case "DetectionsInfo":
		return g.detectionsInfo(), true
	case "FileDownloadedFromUrls":
		return g.list(g.fileDownloadedFromURL), true
	case "FileAccessedUrls":
		return g.list(func() any { return g.fileAccessedURL() }), true
	case "FileNames":
		return g.list(g.fileNameRecord), true
	case "FilePaths":
		return g.list(g.filePathRecord), true
	case "FileCertificates":
		return g.certificates(false), true
	case "FileParentCertificates":
		return g.certificates(true), true
	case "FileStartedObjects", "FileStartedBy":
		return g.list(func() any { return g.relatedFile("LastStartDate") }), true
	case "FileDownloadedObjects", "FileDownloadedBy":
		return g.list(func() any { return g.relatedFile("LastDownloadDate") }), true
	case "IpGeneralInfo":
		return g.ipGeneralInfo(), true
	case "IpWhoIs":
		return g.ipWhoIs(), true
	case "IpDnsResolutions":
		return g.list(g.ipDNSResolution), true
	case "FilesDownloadedFromIp":
		return g.list(func() any { return g.fileSeen("DownloadHitsCount", true) }), true
	case "HostedUrls":
		return g.list(g.hostedURL), true
	case "DomainGeneralInfo":
		return g.domainGeneralInfo(), true
	case "DomainWhoIsInfo":
		return domainWhoIs(g.value), true
	case "UrlGeneralInfo":
		return g.urlGeneralInfo(), true
	case "UrlDomainWhoIs":
		host, _ := urlHost(g.value)
		if _, isIP := parseIPv4(host); isIP {
			return nil, false // an IP host has no domain registration
		}
		return domainWhoIs(host), true
	case "DomainDnsResolutions":
		return g.list(g.domainDNSResolution), true
	case "FilesDownloaded":
		return g.list(func() any { return g.fileSeen("DownloadHitsCount", true) }), true
	case "FilesAccessed":
		return g.list(func() any { return g.fileSeen("AccessHitsCount", false) }), true
	case "UrlReferrals", "UrlReferredTo":
		return g.list(g.urlReference), true
	case "Subdomains":
		return g.list(g.subdomain), true
	case "FeedMasks":
		return g.feedMasks(), true
	}
	return nil, false
}

// records decides how long a list is: usually several, sometimes none,
// sometimes many; Grey objects have little data.
func (g *gen) records() int {
	if g.zone == ZoneGrey {
		return g.r.intn(4)
	}
	switch x := g.r.intn(100); {
	case x < 15:
		return 0
	case x < 70:
		return g.r.between(1, 12)
	default:
		return g.r.between(1, maxRecords)
	}
}

func (g *gen) list(item func() any) []any {
	out := make([]any, g.records())
	for i := range out {
		out[i] = item()
	}
	return out
}

// itemZone is a list item's own zone: often the indicator's, otherwise any.
// Files are never Orange.
func (g *gen) itemZone(file bool) string {
	z := g.zone
	if !g.r.chance(50) {
		z = pick(g.r, []string{ZoneRed, ZoneOrange, ZoneYellow, ZoneGrey, ZoneGreen})
	}
	if file && z == ZoneOrange {
		z = ZoneRed
	}
	return z
}

// seen returns a FirstSeen/LastSeen pair within the generator's past.
func (g *gen) seen() (first, last time.Time) {
	first = g.r.timeIn(epoch().AddDate(-8, 0, 0), epoch().AddDate(0, -1, 0))
	return first, g.r.timeIn(first, epoch())
}

func minutes(t time.Time) string { return t.Format(layoutMinutes) }

// wholeMinutes formats a general-info date: seconds present, always :00.
func wholeMinutes(t time.Time) string { return t.Truncate(time.Minute).Format(layoutSeconds) }

func seconds(t time.Time) string { return t.Truncate(time.Second).Format(layoutSeconds) }

// hits is a hit count as TIP reports it, rounded to a power of ten.
func (g *gen) hits() int {
	n := 1
	for range g.r.intn(6) {
		n *= 10
	}
	return n
}

// ---- common sections ----

func (g *gen) relatedObjects() any {
	var o object
	o.set("HasRedZone", g.zone == ZoneRed || g.r.chance(20))
	return o
}

func (g *gen) industries() []any {
	n := 0
	if g.zone != ZoneGrey && g.zone != ZoneGreen {
		n = g.r.intn(5)
	}
	all := []string{"Financial services", "Government", "Telecommunications", "Energy", "Healthcare",
		"Manufacturing", "Education", "Information technology", "Retail", "Transportation", "Media"}
	out := make([]any, 0, n)
	start := g.r.intn(len(all))
	for i := range n {
		out = append(out, all[(start+i)%len(all)])
	}
	return out
}

// categories sets the Categories and CategoriesWithZone of an object in
// zone z; Grey objects have none and leave the keys out.
func (g *gen) categories(o *object, z string) {
	chosen := g.categoryNames(z)
	if len(chosen) == 0 {
		return
	}
	withZone := make([]object, len(chosen))
	for i, n := range chosen {
		withZone[i].set("Name", n)
		withZone[i].set("Zone", z)
	}
	o.set("Categories", chosen)
	o.set("CategoriesWithZone", withZone)
}

// categoryNames picks one or two categories that fit zone z.
func (g *gen) categoryNames(z string) []string {
	var names []string
	switch z {
	case ZoneRed:
		names = []string{"CATEGORY_MALWARE", "CATEGORY_PHISHING", "CATEGORY_BOTNET_CNC", "CATEGORY_RANSOMWARE"}
	case ZoneOrange:
		names = []string{"CATEGORY_NOT_TRUSTED", "CATEGORY_COMPROMISED", "CATEGORY_SUSPICIOUS_ACTIVITY"}
	case ZoneYellow:
		names = []string{"CATEGORY_OTHER", "CATEGORY_ADWARE", "CATEGORY_RISKWARE", "CATEGORY_PORNOGRAPHY"}
	case ZoneGreen:
		names = []string{"CATEGORY_INFORMATION_TECHNOLOGIES", "CATEGORY_NEWS_MEDIA", "CATEGORY_SEARCH_ENGINES_AND_SERVICES", "CATEGORY_E_COMMERCE"}
	default:
		return nil
	}
	first := g.r.intn(len(names))
	chosen := []string{names[first]}
	if g.r.chance(30) {
		chosen = append(chosen, names[(first+1)%len(names)])
	}
	return chosen
}

// apt adds HasApt and, when true, the related APT reports.
func (g *gen) apt(o *object) {
	has := g.zone == ZoneRed && g.r.chance(15)
	o.set("HasApt", has)
	if !has {
		return
	}
	titles := []string{"Operation Quiet Harbor: espionage against maritime logistics",
		"Spring campaign of a Lazarus-like cluster against defence contractors",
		"New backdoor variant in attacks on diplomatic entities",
		"Supply-chain intrusion through a compromised updater"}
	reports := make([]object, g.r.between(1, 2))
	for i := range reports {
		reports[i].set("Title", pick(g.r, titles))
		reports[i].set("Id", strings.ToLower(g.r.hexUpper(8)))
	}
	o.set("RelatedAptReports", reports)
}

// ---- names, hosts, URLs ----

func (g *gen) domainName() string {
	first := []string{"cdn", "update", "secure", "login", "mail", "files", "static", "api", "download",
		"portal", "cloud", "news", "shop", "app", "data", "my", "free", "best", "smart", "online"}
	second := []string{"service", "center", "host", "box", "zone", "hub", "net", "link", "soft", "ware",
		"store", "site", "check", "sync", "point", "flow"}
	tld := []string{"com", "net", "org", "ru", "cn", "info", "xyz", "top", "io", "de", "online", "site", "br", "in"}
	name := pick(g.r, first) + pick(g.r, second)
	if g.r.chance(25) {
		name += fmt.Sprint(g.r.between(1, 99))
	}
	return name + "." + pick(g.r, tld)
}

// publicIP returns an address outside every reserved block.
func (g *gen) publicIP() string {
	for {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(g.r.next()))
		a := netip.AddrFrom4(b)
		if !reservedIP(a) && !(b[0] == 192 && b[1] == 0 && b[2] == 2) {
			return a.String()
		}
	}
}

func (g *gen) fileName(withExt bool) string {
	bases := []string{"setup", "update", "invoice", "svchost", "installer", "document", "scan", "payload",
		"crack", "keygen", "driver", "report_2024", "photo", "chrome_update", "client", "agent", "loader"}
	name := pick(g.r, bases)
	if withExt {
		name += g.fileKind().ext
	}
	return name
}

func (g *gen) urlPath() string {
	dirs := []string{"bin", "files", "download", "wp-content/uploads", "images", "js", "update", "dl", "static/media"}
	return pick(g.r, dirs) + "/" + g.fileName(true)
}

// host is where this indicator's URLs live.
func (g *gen) host() string {
	switch g.t {
	case indicator.Domain, indicator.IP:
		return g.value
	case indicator.URL:
		if h, ok := urlHost(g.value); ok {
			return h
		}
	}
	return g.domainName()
}

// url returns a URL, without scheme as TIP writes them, on the indicator's
// own host or on another.
func (g *gen) url(ownHost bool) string {
	host := g.domainName()
	if ownHost {
		host = g.host()
	}
	return host + "/" + g.urlPath()
}

// ---- files ----

type fileKind struct{ typ, ext string }

// fileKind is the format of the file being described, shared by its
// sections so that its names match its type.
func (g *gen) fileKind() fileKind {
	kinds := []fileKind{{"pe.32", ".exe"}, {"pe.64", ".exe"}, {"pe.32.dll", ".dll"}, {"elf.64.le", ""},
		{"elf.32.le", ""}, {"apk", ".apk"}, {"macho.64", ""}, {"pdf", ".pdf"}, {"doc", ".doc"},
		{"js", ".js"}, {"vbs", ".vbs"}, {"zip", ".zip"}, {"lnk", ".lnk"}, {"ps1", ".ps1"}}
	return pick(g.shared("kind"), kinds)
}

// signer is the file's code-signing publisher; signed files have certificates.
func (g *gen) signer() (string, bool) {
	r := g.shared("signer")
	if !r.chance(35) {
		return "", false
	}
	good := []string{"Microsoft Corporation", "Google LLC", "Adobe Inc.", "Mozilla Corporation",
		"Oracle America, Inc.", "TeamViewer Germany GmbH", "Zoom Video Communications, Inc."}
	bad := []string{"SOFTWARE ELEMENTS LTD", "Digital Wave Solutions OOO", "Bright Path Consulting Limited"}
	if g.zone == ZoneRed || g.zone == ZoneYellow {
		return pick(r, bad), true
	}
	return pick(r, good), true
}

func (g *gen) detectionName(z string) string {
	platforms := []string{"Win32", "Win64", "Linux", "AndroidOS", "MSOffice", "Script", "HTML", "JS"}
	variant := string(rune('a'+g.r.intn(26))) + string(rune('a'+g.r.intn(26)))
	if g.r.chance(20) {
		variant = "gen"
	}
	prefix := pick(g.r, []string{"HEUR:", "UDS:", ""})
	if z == ZoneYellow {
		classes := []string{"AdWare", "RiskTool", "WebToolbar", "Downloader", "PSWTool", "Monitor"}
		families := []string{"Agent", "BitCoinMiner", "Generic", "InstallCore", "OpenCandy", "Gsnetcat"}
		return "not-a-virus:" + prefix + pick(g.r, classes) + "." + pick(g.r, platforms) + "." + pick(g.r, families) + "." + variant
	}
	classes := []string{"Trojan", "Trojan-Downloader", "Trojan-Dropper", "Backdoor", "Trojan-Ransom",
		"Trojan-Spy", "Exploit", "HackTool", "Trojan-PSW"}
	families := []string{"Agent", "Generic", "Mirai", "Encoder", "Stealer", "Dapato", "Zapchast", "Cobalt", "Tiny", "Gafgyt"}
	return prefix + pick(g.r, classes) + "." + pick(g.r, platforms) + "." + pick(g.r, families) + "." + variant
}

func (g *gen) fileGeneralInfo() any {
	md5, sha1, sha256 := g.r.hexUpper(16), g.r.hexUpper(20), g.r.hexUpper(32)
	switch len(g.value) {
	case 32:
		md5 = strings.ToUpper(g.value)
	case 40:
		sha1 = strings.ToUpper(g.value)
	case 64:
		sha256 = strings.ToUpper(g.value)
	}
	var status string
	switch g.zone {
	case ZoneRed:
		status = "Malware"
	case ZoneYellow:
		status = pick(g.r, []string{"Adware", "Adware and other"})
	case ZoneGreen:
		status = pick(g.r, []string{"Clean", "No threats detected"})
	default:
		status = "Not categorized"
	}
	first, last := g.seen()
	var o object
	o.set("FileStatus", status)
	o.set("Sha1", sha1)
	o.set("Md5", md5)
	o.set("Sha256", sha256)
	o.set("FirstSeen", wholeMinutes(first))
	o.set("LastSeen", wholeMinutes(last))
	if s, ok := g.signer(); ok {
		o.set("Signer", s)
		switch g.zone {
		case ZoneRed:
			o.set("SignerZone", ZoneRed)
			o.set("SignerStatus", "Discredited")
		case ZoneGreen:
			o.set("SignerZone", ZoneGreen)
			o.set("SignerStatus", "Trusted")
		default:
			o.set("SignerZone", ZoneGrey)
			o.set("SignerStatus", "Normal")
		}
	}
	if g.r.chance(25) {
		o.set("Packer", pick(g.r, []string{"UPX", "ASPack", "Themida", "MPRESS", "PECompact"}))
	}
	o.set("Size", g.r.between(512, 40<<20))
	o.set("Type", g.fileKind().typ)
	if g.r.chance(90) {
		o.set("HitsCount", g.hits())
	}
	g.apt(&o)
	if g.zone == ZoneRed || g.zone == ZoneYellow {
		g.categories(&o, g.zone)
	}
	return o
}

// detectionsInfo lists what Kaspersky detects the file as: nothing for Grey
// and Green files. It is never cut to count.
func (g *gen) detectionsInfo() []any {
	n := 0
	switch g.zone {
	case ZoneRed, ZoneYellow:
		n = g.r.between(1, 8)
	}
	out := make([]any, n)
	for i := range out {
		z := g.zone
		if z == ZoneRed && g.r.chance(20) {
			z = ZoneYellow
		}
		name := g.detectionName(z)
		family := strings.TrimPrefix(name, "not-a-virus:")
		method := "SIGNATURE"
		for _, m := range []string{"HEUR", "UDS"} {
			if strings.HasPrefix(family, m+":") {
				method = m
				family = strings.TrimPrefix(family, m+":")
			}
		}
		family = family[:strings.LastIndexByte(family, '.')]
		var o object
		o.set("LastDetectDate", g.r.timeIn(epoch().AddDate(-3, 0, 0), epoch()).Format(layoutFraction))
		o.set("DescriptionUrl", "https://threats.kaspersky.com/en/threat/"+family)
		o.set("Zone", z)
		o.set("DetectionName", name)
		o.set("DetectionMethod", method)
		out[i] = o
	}
	return out
}

func (g *gen) fileDownloadedFromURL() any {
	o := g.fileAccessedURL()
	o.set("LastDownloadDate", minutes(g.r.timeIn(epoch().AddDate(-4, 0, 0), epoch())))
	return o
}

// fileAccessedURL is a URL a file reached; a download adds its date.
func (g *gen) fileAccessedURL() object {
	u := g.url(false)
	var o object
	o.set("Url", u)
	o.set("Domain", u[:strings.IndexByte(u, '/')])
	o.set("Zone", g.itemZone(false))
	return o
}

func (g *gen) fileNameRecord() any {
	var o object
	o.set("FileName", g.fileName(true))
	o.set("FileNamesHitsCount", g.hits())
	return o
}

func (g *gen) location() (location, path string) {
	locations := []string{"%windir%", "%systemroot%\\system32", "%temp%", "%appdata%", "%localappdata%",
		"%programfiles%", "%userprofile%\\downloads", "%startup%"}
	subdirs := []string{"\\", "\\microsoft\\", "\\temp\\", "\\google\\update\\", "\\adobe\\", "\\java\\", "\\low\\"}
	return pick(g.r, locations), pick(g.r, subdirs)
}

func (g *gen) filePathRecord() any {
	loc, path := g.location()
	var o object
	o.set("Path", path)
	o.set("Location", loc)
	o.set("FilePathHitsCount", g.hits())
	return o
}

// certificates is the signing chain of a signed file: the leaf certificates,
// or (parent) the CAs above them. Unsigned files have none.
func (g *gen) certificates(parent bool) []any {
	signer, ok := g.signer()
	if !ok {
		return []any{}
	}
	leafCAs := []string{"DigiCert SHA2 Assured ID Code Signing CA", "Sectigo RSA Code Signing CA",
		"GlobalSign GCC R45 EV CodeSigning CA 2020", "Microsoft Code Signing PCA 2011"}
	roots := []string{"DigiCert Assured ID Root CA", "USERTrust RSA Certification Authority",
		"GlobalSign Code Signing Root R45", "Microsoft Root Certificate Authority 2011"}
	out := make([]any, g.r.between(1, 2))
	for i := range out {
		issued := g.r.timeIn(epoch().AddDate(-6, 0, 0), epoch().AddDate(0, -2, 0))
		var o object
		if parent {
			ca := g.r.intn(len(roots))
			o.set("Vendor", roots[ca])
			o.set("Publisher", leafCAs[ca])
		} else {
			o.set("Vendor", pick(g.r, leafCAs))
			o.set("Publisher", signer)
			o.set("TimeStamp", seconds(g.r.timeIn(issued, epoch())))
		}
		o.set("Issued", seconds(issued))
		o.set("Expires", seconds(issued.AddDate(g.r.between(1, 3), 0, 0)))
		o.set("SerialNumber", g.r.hexUpper(16))
		out[i] = o
	}
	return out
}

// relatedFile is a file this one started or downloaded, or was started or
// downloaded by; dateKey names its date.
func (g *gen) relatedFile(dateKey string) any {
	z := g.itemZone(true)
	loc, path := g.location()
	var o object
	o.set("Zone", z)
	o.set("HitsCount", g.hits())
	o.set("Md5", g.r.hexUpper(16))
	o.set("Location", loc)
	o.set("Path", path)
	o.set("Name", g.fileName(true))
	o.set(dateKey, minutes(g.r.timeIn(epoch().AddDate(-4, 0, 0), epoch())))
	if z == ZoneRed || z == ZoneYellow {
		o.set("DetectionName", g.detectionName(z))
	}
	return o
}

// fileSeen is a file seen at an IP, domain or URL; hitsKey names its hit
// count, withURL adds where it came from.
func (g *gen) fileSeen(hitsKey string, withURL bool) any {
	z := g.itemZone(true)
	first, last := g.seen()
	var o object
	o.set("Md5", g.r.hexUpper(16))
	o.set("Zone", z)
	o.set(hitsKey, g.hits())
	o.set("FirstSeen", minutes(first))
	o.set("LastSeen", minutes(last))
	if z == ZoneRed || z == ZoneYellow {
		o.set("DetectionName", g.detectionName(z))
	}
	if withURL {
		o.set("Url", g.url(g.r.chance(70)))
	}
	return o
}

// ---- IP addresses ----

// network is who an IP belongs to: shared by IpGeneralInfo and IpWhoIs.
type network struct {
	asn         int
	asName      string
	netName     string
	country     string
	org         string
	description string
}

// network returns who owns the indicator's IP and the length of the
// announced prefix it is in.
func (g *gen) network() (network, int) {
	nets := []network{
		{4837, "China Unicom Shandong Province Network", "UNICOM-SD", "CN", "China Unicom", "China Unicom Shandong province network"},
		{16509, "Amazon.com, Inc.", "AMAZON-EC2", "US", "Amazon Technologies Inc.", "Amazon Web Services, Elastic Compute Cloud, EC2"},
		{24940, "Hetzner Online GmbH", "HETZNER-FSN1-DC", "DE", "Hetzner Online GmbH", "Hetzner Online GmbH\r\nDatacenter Falkenstein"},
		{14061, "DigitalOcean, LLC", "DIGITALOCEAN", "US", "DigitalOcean, LLC", "DigitalOcean cloud"},
		{16276, "OVH SAS", "OVH", "FR", "OVH SAS", "OVH Static IP\r\nOVH SAS"},
		{12389, "PJSC Rostelecom", "RT-NET", "RU", "PJSC Rostelecom", "Rostelecom networks"},
		{9009, "M247 Europe SRL", "M247-LTD", "RO", "M247 Europe SRL", "M247 Ltd\r\nBucharest infrastructure"},
		{13335, "Cloudflare, Inc.", "CLOUDFLARENET", "US", "Cloudflare, Inc.", "Cloudflare anycast network"},
		{45090, "Shenzhen Tencent Computer Systems Company Limited", "TENCENT-NET-AP", "CN", "Tencent Cloud", "Shenzhen Tencent Computer Systems Company Limited\r\nTencent cloud"},
		{20473, "The Constant Company, LLC", "AS-CHOOPA", "US", "The Constant Company, LLC", "Vultr Holdings, LLC"},
		{3320, "Deutsche Telekom AG", "DTAG-DIAL", "DE", "Deutsche Telekom AG", "Deutsche Telekom AG\r\nDialup and broadband pool"},
		{28573, "Claro NXT Telecomunicacoes Ltda", "CLARO-BR", "BR", "Claro S.A.", "Claro S.A.\r\nBroadband customers"},
	}
	r := g.shared("network")
	return pick(r, nets), r.between(12, 24)
}

// reservedBlock describes the reserved block a reserved IP is in.
func reservedBlock(a netip.Addr) (netip.Prefix, string) {
	b := a.As4()
	bits, name := 8, "IANA-RESERVED"
	switch {
	case b[0] == 10:
		name = "PRIVATE-ADDRESS-ABLK-RFC1918-IANA-RESERVED"
	case b[0] == 127:
		name = "LOOPBACK-RFC1122"
	case b[0] == 100:
		bits, name = 10, "SHARED-ADDRESS-SPACE-RFC6598-IANA-RESERVED"
	case b[0] == 169:
		bits, name = 16, "LINKLOCAL-RFC3927-IANA-RESERVED"
	case b[0] == 172:
		bits, name = 12, "PRIVATE-ADDRESS-BBLK-RFC1918-IANA-RESERVED"
	case b[0] == 192:
		bits, name = 16, "PRIVATE-ADDRESS-CBLK-RFC1918-IANA-RESERVED"
	case b[0] >= 240:
		bits, name = 4, "RESERVED-240"
	case b[0] >= 224:
		bits, name = 4, "MCAST-NET"
	}
	p, _ := a.Prefix(bits)
	return p, name
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func (g *gen) ipGeneralInfo() any {
	addr, _ := netip.ParseAddr(g.value)
	var o object
	if reservedIP(addr) {
		o.set("Status", "reserved")
		o.set("CountryCode", nil)
		o.set("Ip", g.value)
		return o
	}
	n, _ := g.network()
	first, _ := g.seen()
	o.set("Status", "known")
	o.set("CountryCode", n.country)
	o.set("Ip", g.value)
	if g.r.chance(80) {
		o.set("HitsCount", g.hits())
	}
	o.set("FirstSeen", wholeMinutes(first))
	o.set("ThreatScore", threatScore(g.r, g.zone))
	g.categories(&o, g.zone)
	g.apt(&o)
	return o
}

// threatScore follows TIP's thresholds: above 74 is dangerous, 50 to 74 not
// trusted.
func threatScore(r *rng, zone string) int {
	switch zone {
	case ZoneRed:
		return r.between(75, 100)
	case ZoneOrange:
		return r.between(50, 74)
	case ZoneYellow:
		return r.between(20, 49)
	case ZoneGreen:
		return r.between(0, 5)
	}
	return r.between(0, 30)
}

func (g *gen) ipWhoIs() any {
	addr, _ := netip.ParseAddr(g.value)
	var net object
	if reservedIP(addr) {
		p, name := reservedBlock(addr)
		net.set("RangeStart", p.Addr().String())
		net.set("RangeEnd", lastAddr(p).String())
		net.set("Name", name)
		net.set("Description", "Internet Assigned Numbers Authority\r\nReserved address block")
		var o object
		o.set("Net", net)
		return o
	}
	n, bits := g.network()
	p, _ := addr.Prefix(bits)
	created := g.r.timeIn(epoch().AddDate(-20, 0, 0), epoch().AddDate(-2, 0, 0))
	net.set("RangeStart", p.Addr().String())
	net.set("RangeEnd", lastAddr(p).String())
	if g.r.chance(60) {
		net.set("Created", seconds(created))
	}
	net.set("Changed", seconds(g.r.timeIn(created, epoch())))
	net.set("Name", n.netName)
	net.set("Description", n.description)

	var asn object
	asn.set("Number", n.asn)
	asn.set("Description", []string{n.asName})

	var o object
	o.set("Asn", []object{asn})
	o.set("Net", net)
	if g.r.chance(70) {
		roles := []string{"owner", "abuse", "technical", "administrative"}
		contacts := make([]object, g.r.between(1, 3))
		for i := range contacts {
			c := &contacts[i]
			c.set("ContactType", roles[i%len(roles)])
			c.set("Name", n.org)
			if g.r.chance(50) {
				c.set("OrganizationId", "ORG-"+g.r.hexUpper(2)+"-"+n.country)
			}
			c.set("Address", []string{fmt.Sprintf("%d Network Street", g.r.between(1, 300)), n.country})
			c.set("Email", pick(g.r, []string{"abuse", "noc", "hostmaster"})+"@"+strings.ToLower(strings.ReplaceAll(n.netName, "-", ""))+".example")
			if g.r.chance(60) {
				c.set("Phone", fmt.Sprintf("+%d-%d", g.r.between(1, 99), g.r.between(1000000, 9999999)))
			}
		}
		o.set("Contacts", contacts)
	}
	return o
}

func (g *gen) ipDNSResolution() any {
	z := g.itemZone(false)
	first, last := g.seen()
	var o object
	o.set("Domain", g.domainName())
	o.set("Zone", z)
	o.set("HitsCount", g.hits())
	o.set("FirstSeen", minutes(first))
	o.set("LastSeen", minutes(last))
	if g.r.chance(60) {
		o.set("PeakDate", minutes(g.r.timeIn(first, last).Truncate(24*time.Hour)))
		o.set("DailyPeak", g.hits())
	}
	if cats := g.categoryNames(z); len(cats) > 0 {
		o.set("Categories", cats)
	}
	return o
}

func (g *gen) hostedURL() any {
	first, last := g.seen()
	var o object
	o.set("Url", g.url(true))
	o.set("Zone", g.itemZone(false))
	o.set("UrlHitsCount", g.hits())
	o.set("FirstSeen", minutes(first))
	o.set("LastSeen", minutes(last))
	return o
}

// ---- domains and URLs ----

func (g *gen) domainGeneralInfo() any {
	var o object
	o.set("Domain", g.value)
	if g.r.chance(80) {
		o.set("FilesCount", g.r.intn(200))
		o.set("UrlsCount", g.r.intn(5000))
		o.set("HitsCount", g.hits())
		o.set("Ipv4Count", g.r.between(1, 20))
	}
	g.categories(&o, g.zone)
	g.apt(&o)
	return o
}

func (g *gen) urlGeneralInfo() any {
	host, _ := urlHost(g.value)
	var o object
	o.set("Url", g.value)
	o.set("Host", host)
	o.set("Ipv4Count", g.r.between(0, 10))
	o.set("FilesCount", g.r.intn(50))
	g.categories(&o, g.zone)
	g.apt(&o)
	return o
}

// registrable returns the last two labels of a host: the part a WHOIS
// record is about.
func registrable(host string) string {
	labels := strings.Split(host, ".")
	if len(labels) <= 2 {
		return host
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

// domainWhoIs is the registration of host's domain, the same whether it is
// asked for as DomainWhoIsInfo or as a URL's UrlDomainWhoIs.
func domainWhoIs(host string) any {
	domain := registrable(host)
	r := newRNG("whois", domain)
	registrars := []struct{ info, iana, dns string }{
		{"NameCheap, Inc.", "1068", "registrar-servers.com"}, {"GoDaddy.com, LLC", "146", "domaincontrol.com"},
		{"NameSilo, LLC", "1479", "dnsowl.com"}, {"Tucows Domains Inc.", "69", "tucows-dns.example"},
		{"PDR Ltd. d/b/a PublicDomainRegistry.com", "303", "publicdomainregistry.example"},
		{"MarkMonitor Inc.", "292", "markmonitor-dns.example"}, {"REG.RU LLC", "1606", "reg.ru"},
		{"InternetX", "800087", "schlundtech.de"},
	}
	reg := pick(r, registrars)
	created := time.Date(r.between(1998, 2025), time.Month(r.between(1, 12)), r.between(1, 28), pick(r, []int{0, 21}), 0, 0, 0, time.UTC)
	if created.After(epoch()) {
		created = epoch().AddDate(0, -3, 0)
	}
	updated := r.timeIn(created, epoch()).Truncate(24 * time.Hour).Add(time.Duration(created.Hour()) * time.Hour)
	years := r.between(1, 10)

	var nameServers []string
	if r.chance(40) {
		names := []string{"ariella", "pranab", "kai", "lola", "nash", "vera", "zoe", "amir"}
		a := r.intn(len(names))
		nameServers = []string{names[a] + ".ns.cloudflare.com", names[(a+1)%len(names)] + ".ns.cloudflare.com"}
	} else {
		for i := range r.between(2, 4) {
			nameServers = append(nameServers, fmt.Sprintf("ns%d.%s", i+1, reg.dns))
		}
	}

	var contact object
	contact.set("ContactType", "registrant")
	if r.chance(50) {
		contact.set("Organization", pick(r, []string{"NA", "Privacy service provided by Withheld for Privacy ehf", "REDACTED FOR PRIVACY"}))
	}
	country := pick(r, []string{"US", "GB", "DE", "HK", "RU", "CN", "IS", "PA", "NL"})
	contact.set("State", pick(r, []string{"NA", country, "REDACTED FOR PRIVACY"}))
	contact.set("CountryCode", country)

	statuses := []string{"clientTransferProhibited https://icann.org/epp#clientTransferProhibited",
		"clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited",
		"clientUpdateProhibited https://icann.org/epp#clientUpdateProhibited",
		"autoRenewPeriod https://icann.org/epp#autoRenewPeriod",
		"serverHold https://icann.org/epp#serverHold"}

	var registrar object
	registrar.set("Info", reg.info)
	registrar.set("IanaId", reg.iana)
	if r.chance(50) {
		registrar.set("Email", "abuse@"+reg.dns)
	}

	var o object
	o.set("DomainName", domain)
	o.set("Created", created.Format(layoutSeconds))
	o.set("Updated", updated.Format(layoutSeconds))
	o.set("Expires", created.AddDate(years, 0, 0).Format(layoutSeconds))
	o.set("NameServers", nameServers)
	o.set("Contacts", []object{contact})
	o.set("Registrar", registrar)
	o.set("DomainStatus", statuses[:r.between(1, len(statuses)-1)])
	if r.chance(50) {
		o.set("RegistrationOrganization", "NA")
	}
	return o
}

func (g *gen) domainDNSResolution() any {
	z := g.itemZone(false)
	first, last := g.seen()
	var o object
	o.set("Ip", g.publicIP())
	o.set("Zone", z)
	o.set("ThreatScore", threatScore(g.r, z))
	o.set("HitsCount", g.hits())
	o.set("FirstSeen", minutes(first))
	o.set("LastSeen", minutes(last))
	if g.r.chance(60) {
		o.set("PeakDate", minutes(g.r.timeIn(first, last).Truncate(24*time.Hour)))
		o.set("DailyPeak", g.hits())
	}
	return o
}

func (g *gen) urlReference() any {
	var o object
	o.set("Url", g.url(g.r.chance(30)))
	o.set("Zone", g.itemZone(false))
	o.set("LastSeen", minutes(g.r.timeIn(epoch().AddDate(-3, 0, 0), epoch())))
	return o
}

func (g *gen) subdomain() any {
	labels := []string{"www", "mail", "login", "api", "cdn", "dev", "vpn", "portal", "secure", "m", "shop", "static"}
	sub := pick(g.r, labels)
	if g.r.chance(40) {
		sub += fmt.Sprint(g.r.between(1, 20))
	}
	var o object
	o.set("Subdomain", sub+"."+g.value)
	o.set("Zone", g.itemZone(false))
	o.set("FilesCount", g.r.intn(30))
	o.set("UrlsCount", g.r.intn(500))
	return o
}

// feedMasks lists the masks in Kaspersky's data feeds that match the object:
// only dangerous objects are in feeds.
func (g *gen) feedMasks() []any {
	host := g.host()
	masks := []object{}
	if _, isIP := parseIPv4(host); !isIP {
		var o object
		o.set("MaskType", "Domain")
		o.set("NormalizedMask", "*."+registrable(host))
		masks = append(masks, o)
	}
	for _, path := range []string{"*", "bin/*", "files/*", "wp-content/*"} {
		var o object
		o.set("MaskType", "Url")
		o.set("NormalizedMask", host+"/"+path)
		masks = append(masks, o)
	}
	n := 0
	switch g.zone {
	case ZoneRed, ZoneOrange, ZoneYellow:
		n = g.r.between(1, 4)
	}
	feeds := []string{"Malicious URL Data Feed", "Phishing URL Data Feed", "Botnet C&C URL Data Feed",
		"Ransomware URL Data Feed", "Mobile Botnet C&C URL Data Feed"}
	start := g.r.intn(len(masks))
	out := make([]any, n)
	for i := range out {
		o := slices.Clone(masks[(start+i)%len(masks)])
		o.set("FeedNames", []string{pick(g.r, feeds)})
		o.set("Zone", g.zone)
		out[i] = o
	}
	return out
}
