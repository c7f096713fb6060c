package flat

import "github.com/tipgate/tipgate/internal/indicator"

// Function is one of the plugin's lookup functions: the indicator type it
// takes and the sections (canonical names, never Zone or LicenseInfo, which a
// lookup always includes) its fields come from.
type Function struct {
	Name     string
	Type     indicator.Type
	Sections []string
}

// functions lists the seven in the document's order. Sections are those the
// plugin asked TIP for (tip-api.md §4), in the catalog's order; the plugin's
// get_hash_report asked for none (TIP then returns everything), so it gets
// the four sections its fields are read from. A function rather than a
// variable, so that no caller can change the table for the others.
func functions() []Function {
	return []Function{
		{Name: "get_ip_report", Type: indicator.IP,
			Sections: []string{"IpGeneralInfo", "IpWhoIs", "IpDnsResolutions"}},
		{Name: "get_ip_report_file", Type: indicator.IP,
			Sections: []string{"FilesDownloadedFromIp", "HostedUrls"}},
		{Name: "get_url_report", Type: indicator.URL,
			Sections: []string{"UrlGeneralInfo", "UrlDomainWhoIs", "DomainDnsResolutions", "UrlReferrals", "UrlReferredTo"}},
		{Name: "get_url_report_file", Type: indicator.URL,
			Sections: []string{"FilesDownloaded", "FilesAccessed"}},
		{Name: "get_domain_report", Type: indicator.Domain,
			Sections: []string{"DomainGeneralInfo", "DomainWhoIsInfo", "DomainDnsResolutions", "UrlReferrals", "UrlReferredTo", "Subdomains"}},
		{Name: "get_domain_report_file", Type: indicator.Domain,
			Sections: []string{"FilesDownloaded", "FilesAccessed"}},
		{Name: "get_hash_report", Type: indicator.Hash,
			Sections: []string{"FileGeneralInfo", "DetectionsInfo", "FileAccessedUrls", "FileNames"}},
	}
}

// Functions returns the seven functions in the document's order. The result
// is the caller's to modify.
func Functions() []Function { return functions() }

// FunctionByName returns the function called name, spelled exactly as the
// document spells it.
func FunctionByName(name string) (Function, bool) {
	for _, f := range functions() {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}
