"""Wording for the demo-ticket generator: problems per category and type, cues, slot fillers.

Each problem has subject and body variants, a ``severity`` that nudges the true priority
(-1 cosmetic ... +1 data loss) and ``hours`` that nudges the log of the resolution time.
``{slot}`` placeholders are filled from ``SLOTS``.
"""

PROBLEMS = {
    ("technical", "issue"): [
        dict(severity=1, hours=0.3, subject=["{product} returns {error}", "{product} crashing with {error}", "Errors in {product} {when}"],
             body=["{product} keeps failing with {error} {when}.", "Every call to {product} ends in {error}. This started {when}.", "We get {error} from {product} on almost every request {when}."]),
        dict(severity=1, hours=0.6, subject=["Data missing after sync", "Records lost in {product}", "Sync deleted our data"],
             body=["After the last sync about {n} records disappeared from {product}.", "Some of our data is gone since the sync {when}; {n} rows are missing.", "The nightly sync wiped {n} entries in {product}."]),
        dict(severity=0, hours=0.2, subject=["Export to {format} fails", "Cannot export report as {format}", "{format} export broken"],
             body=["Exporting the monthly report to {format} fails with {error}.", "When I export to {format} the file is empty.", "The {format} export button does nothing {when}."]),
        dict(severity=0, hours=0.5, subject=["Webhook not delivered", "Webhooks stopped firing", "Integration with {integration} broken"],
             body=["Our webhooks to {integration} stopped arriving {when}.", "The {integration} integration no longer receives events.", "No webhook calls reach {integration} {when}, the log shows {error}."]),
        dict(severity=0, hours=0.4, subject=["Upload fails on {browser}", "File upload error", "Attachments won't upload"],
             body=["Uploading attachments fails on {browser} with {error}.", "Any file over {size} MB fails to upload on {os}.", "The upload progress bar stops at {pct}% and then shows {error}."]),
        dict(severity=-1, hours=-0.3, subject=["Layout broken on {browser}", "Typo in {page}", "Button misaligned on {page}"],
             body=["The {page} page looks broken on {browser}, buttons overlap.", "There is a typo on the {page} page.", "On {browser} the menu on {page} is misaligned. Cosmetic, but noticeable."]),
        dict(severity=-1, hours=0.2, subject=["Wrong timezone in reports", "Dates shown in wrong format", "Timestamps off by one hour"],
             body=["Reports show times in UTC instead of our timezone.", "Dates in {page} use the wrong format since version {version}.", "All timestamps on {page} are one hour off after the daylight saving change."]),
        dict(severity=0, hours=0.7, subject=["Intermittent failures in {product}", "Random errors in {product}", "{product} fails sometimes"],
             body=["{product} fails intermittently with {error}, maybe one request in ten.", "Only sometimes, and we can't reproduce it reliably, {product} returns {error}.", "Every few hours {product} throws {error} and then recovers on its own."]),
    ],
    ("technical", "request"): [
        dict(severity=-1, hours=0.3, subject=["Feature request: {feature}", "Could you add {feature}?", "Suggestion: {feature}"],
             body=["It would help us a lot if {product} supported {feature}.", "Is {feature} on your roadmap?", "We would like to request {feature} in {product}."]),
        dict(severity=0, hours=-0.3, subject=["How to configure {integration}", "Question about {integration} setup", "Help setting up {integration}"],
             body=["How do I connect {product} to {integration}?", "Could you send the steps to set up the {integration} integration?", "Where do I find the settings for {integration}?"]),
        dict(severity=0, hours=0.0, subject=["API rate limits", "Increase API quota", "Question about API limits"],
             body=["What are the rate limits of the REST API on the {plan} plan?", "We need a higher API quota, we hit the limit at around {n} requests per minute.", "Can you raise our API limit for a migration next week?"]),
        dict(severity=-1, hours=-0.5, subject=["Where is the documentation for {feature}", "Docs for {product}", "Link to the user guide"],
             body=["I can't find the documentation for {feature}.", "Is there a user guide for {product}?", "Could you point me to the docs for {feature}?"]),
        dict(severity=0, hours=0.4, subject=["Data import from {format}", "Bulk import request", "Help migrating our data"],
             body=["We want to import about {n} records from a {format} file.", "Can your team help us migrate {n} records into {product}?", "Is there a bulk import for {format} files?"]),
    ],
    ("performance", "issue"): [
        dict(severity=1, hours=0.4, subject=["{product} extremely slow", "Very slow response times", "{product} takes {duration} to load"],
             body=["{product} takes {duration} to load {when}.", "Response times went from under a second to {duration} {when}.", "Every page in {product} needs {duration} to open {when}."]),
        dict(severity=1, hours=0.6, subject=["Timeouts in {product}", "Requests timing out", "Gateway timeouts"],
             body=["Requests to {product} time out after {duration}.", "We see gateway timeouts on {pct}% of requests {when}.", "{product} returns 504 timeouts under normal load {when}."]),
        dict(severity=0, hours=0.5, subject=["Reports slow to generate", "Slow dashboard", "Dashboard loading slowly"],
             body=["The {page} dashboard needs {duration} to render.", "Generating the monthly report takes {duration} now.", "Loading {page} has become slow, about {duration}."]),
        dict(severity=0, hours=0.8, subject=["Performance degraded since {version}", "Slower after upgrade", "Upgrade to {version} made it slow"],
             body=["Since we upgraded to {version}, {product} is noticeably slower.", "After the update to {version} everything takes twice as long.", "Performance dropped after {version}, CPU on our side is fine."]),
        dict(severity=-1, hours=0.2, subject=["Search a bit slow", "Search could be faster", "Slight delay in search"],
             body=["Search takes a couple of seconds, a bit slower than before.", "Searching on {page} feels slightly sluggish.", "Search results appear after about {duration}, not critical."]),
        dict(severity=0, hours=0.9, subject=["Memory usage of sync agent", "Sync agent uses too much CPU", "High load from agent"],
             body=["The sync agent uses {pct}% CPU on our servers.", "Memory of the agent grows until the host swaps.", "The agent on {os} uses a lot of memory after a few hours."]),
    ],
    ("performance", "request"): [
        dict(severity=0, hours=0.3, subject=["Advice on scaling", "Best practices for large accounts", "Sizing recommendation"],
             body=["We are growing to {n} users, what setup do you recommend?", "Do you have best practices for accounts with {n} records?", "How should we size our plan for {n} daily users?"]),
        dict(severity=-1, hours=0.0, subject=["Performance report request", "Uptime statistics", "SLA report for last month"],
             body=["Could you send us the uptime report for last month?", "We need the SLA statistics for our audit.", "Can we get performance metrics for our account?"]),
        dict(severity=0, hours=0.6, subject=["Load test planned", "Notice: load test next week", "Permission for load testing"],
             body=["We plan a load test with {n} virtual users, is that OK?", "Can we run a load test against the sandbox next week?", "Please confirm we may load test the API at {n} requests per minute."]),
    ],
    ("authentication", "issue"): [
        dict(severity=1, hours=-0.2, subject=["Cannot log in", "Login fails for everyone", "Locked out of {product}"],
             body=["None of us can log in {when}, we get {error}.", "Login fails with 'invalid credentials' although the password is correct.", "We are locked out of {product} {when}."]),
        dict(severity=1, hours=0.2, subject=["SSO with {idp} broken", "{idp} single sign-on fails", "SAML error with {idp}"],
             body=["Single sign-on through {idp} fails with {error} {when}.", "Our {idp} SSO redirects in a loop and never logs in.", "SAML login via {idp} shows {error}."]),
        dict(severity=0, hours=-0.4, subject=["Password reset e-mail not arriving", "No reset link received", "Reset password doesn't work"],
             body=["The password reset e-mail never arrives.", "I requested a reset link three times but got nothing.", "The reset link says it has expired immediately."]),
        dict(severity=0, hours=0.0, subject=["Two-factor codes rejected", "2FA not working", "MFA code invalid"],
             body=["My two-factor codes are always rejected.", "After changing phones, 2FA no longer accepts my codes.", "The MFA prompt says the code is invalid every time."]),
        dict(severity=-1, hours=-0.3, subject=["Session expires too quickly", "Logged out often", "Remember me doesn't work"],
             body=["I get logged out every few minutes.", "The 'remember me' option does not keep me signed in.", "Sessions expire after {duration} of inactivity, which is annoying."]),
    ],
    ("authentication", "request"): [
        dict(severity=0, hours=-0.5, subject=["Add new user", "Create accounts for new hires", "New team members need access"],
             body=["Please create accounts for {n} new colleagues.", "Can you add two new users to our {plan} account?", "We have new hires starting Monday and need access for them."]),
        dict(severity=0, hours=0.3, subject=["Set up SSO with {idp}", "Enable {idp} login", "Configure SAML for {idp}"],
             body=["We would like to enable single sign-on with {idp}.", "What do you need from us to set up SAML with {idp}?", "Please enable {idp} SSO for our workspace."]),
        dict(severity=-1, hours=-0.4, subject=["Change account owner", "Transfer ownership", "Update admin contact"],
             body=["Please transfer ownership of our account to a colleague.", "Our admin left the company, please make me the owner.", "Can you change the admin of our workspace?"]),
        dict(severity=0, hours=-0.2, subject=["Remove access for former employee", "Deactivate user", "Revoke user access"],
             body=["Please deactivate the account of a former employee today.", "Can you revoke access for a user who left?", "We need to remove a user immediately."]),
    ],
    ("billing", "issue"): [
        dict(severity=1, hours=0.0, subject=["Charged twice", "Double charge on invoice {invoice}", "Duplicate payment"],
             body=["We were charged twice for invoice {invoice}, {amount} each.", "Our card was billed {amount} two times this month.", "Invoice {invoice} was paid twice."]),
        dict(severity=0, hours=0.2, subject=["Wrong amount on invoice {invoice}", "Invoice amount incorrect", "Overcharged this month"],
             body=["Invoice {invoice} shows {amount} but we are on the {plan} plan.", "We were charged {amount}, which does not match our contract.", "The amount on invoice {invoice} is higher than expected."]),
        dict(severity=1, hours=-0.1, subject=["Account suspended for non-payment", "Service suspended", "Account locked due to billing"],
             body=["Our account was suspended although invoice {invoice} is paid.", "Service is suspended for non-payment but the payment went through.", "We paid {amount} yesterday and the account is still locked."]),
        dict(severity=0, hours=0.1, subject=["Payment failed", "Card declined", "Cannot update payment method"],
             body=["Our payment of {amount} failed although the card is valid.", "I cannot save a new payment method, the form shows {error}.", "The card is declined on your side but works everywhere else."]),
        dict(severity=-1, hours=-0.2, subject=["VAT number missing on invoice", "Wrong address on invoice", "Invoice details incorrect"],
             body=["Our VAT number is missing on invoice {invoice}.", "The billing address on invoice {invoice} is outdated.", "Please correct the company name on invoice {invoice}."]),
    ],
    ("billing", "request"): [
        dict(severity=-1, hours=-0.4, subject=["Copy of invoice {invoice}", "Need invoice for accounting", "Resend invoice"],
             body=["Could you send me a copy of invoice {invoice}?", "Our accounting needs all invoices of last year.", "Please resend invoice {invoice} as PDF."]),
        dict(severity=0, hours=0.0, subject=["Upgrade to {plan} plan", "Change plan", "Add seats to our subscription"],
             body=["We would like to upgrade to the {plan} plan.", "Please add {n} seats to our subscription.", "What would it cost to move to the {plan} plan?"]),
        dict(severity=0, hours=0.2, subject=["Cancel subscription", "Cancellation request", "End our contract"],
             body=["Please cancel our subscription at the end of the term.", "We want to cancel, how do we export our data first?", "We'd like to end our contract when it renews."]),
        dict(severity=-1, hours=-0.1, subject=["Switch to annual billing", "Pay by bank transfer", "Change billing cycle"],
             body=["Can we switch to annual billing?", "Is it possible to pay by bank transfer instead of card?", "Please change our billing cycle to yearly."]),
    ],
}

URGENCY_HIGH = [
    "Production is down.", "All users are blocked.", "This is urgent, production is down and all users blocked.",
    "Our whole team is blocked and cannot work.", "This is critical for us, we are losing revenue every hour.",
    "Please treat this as an emergency.", "We have a customer demo in two hours, please help ASAP.",
    "Nobody in the company can work right now.", "This is a complete outage for us.", "URGENT: please escalate.",
]
URGENCY_LOW = [
    "Whenever you get a chance.", "No rush on this.", "Not urgent at all.", "Low priority, just curious.",
    "Take your time, it's not blocking anything.", "Just something we noticed, no hurry.",
    "It can wait until next week.", "Only a minor thing.",
]
# Moods are voiced in many ways, built from slots (filled like the rest of the text), so that a
# model learns what angry or grateful sounds like rather than a dozen fixed sentences.
MOOD_ANGRY = [
    "This is {bad}.", "Honestly, this is {bad}.", "Frankly, the whole thing is {bad}.", "{Bad_lead} {bad}.",
    "I am {very} {upset} {about}.", "We are {very} {upset} {about}.", "{Very_lead} {upset}, to be honest.",
    "We are losing {losses} because of this.", "This is costing us {losses} every day.",
    "Our customers are {complaining} and we look {foolish}.",
    "This is the {nth} time I'm reporting this!", "Why does this keep {breaking}? {Bad_short}",
    "Your support has been {useless} so far.", "{Days} and still no answer. {Bad_short}",
    "We are seriously considering {leaving}.", "This is a joke. Fix it.", "{Bad_short} Fix it now.",
    "I've been waiting for {days} and nobody answers.", "Absolutely {upset} with these problems.",
    "Please help, this is {bad}.", "We cannot work like this. {Bad_short}",
]
MOOD_GRATEFUL = [
    "Thanks {so_much} for {help_with}!", "{Really} appreciate {support}.", "You {folks} are {good}, thank you!",
    "We {love} {product}, keep up the good work.", "Thank you {so_much} in advance, your team is always {helpful}.",
    "Many thanks, you've been {good} so far.", "{Good_cap} job on {achievement} by the way.",
    "Cheers, and thanks for {help_with} as always.", "Your team has been {good} to work with.",
    "We are really happy with {product} otherwise.", "Thanks again, {support} is much appreciated.",
    "We are {very} pleased with {support}.",
]
MOOD_SLOTS = {
    "bad": ["unacceptable", "ridiculous", "terrible", "awful", "a disaster", "absurd", "hopeless",
            "a nightmare", "so disappointing", "infuriating", "appalling", "pathetic", "a mess"],
    "Bad_lead": ["Sorry, but this is", "I have to say this is", "The service lately is", "Your product is"],
    "Bad_short": ["Terrible.", "Unacceptable.", "Very disappointed.", "Ridiculous.", "Awful.", "Pathetic."],
    "very": ["very", "extremely", "really", "incredibly", "deeply", "totally"],
    "Very_lead": ["Really", "Extremely", "Very", "Totally"],
    "upset": ["frustrated", "angry", "fed up", "disappointed", "annoyed", "upset", "furious", "unhappy"],
    "about": ["with your service", "with this product", "about this", "with how this was handled",
              "that this is still broken", "with the lack of response"],
    "losses": ["money", "customers", "sales", "revenue", "deals", "clients"],
    "complaining": ["complaining", "furious", "angry", "threatening to leave"],
    "foolish": ["bad", "foolish", "incompetent", "terrible"],
    "nth": ["third", "fourth", "fifth", "tenth"],
    "breaking": ["happening", "breaking", "failing", "going wrong"],
    "useless": ["useless", "useless and slow", "a waste of time", "incompetent", "no help at all"],
    "Days": ["Three days", "A week", "Five days", "Two weeks"],
    "days": ["days", "a week", "two weeks", "hours"],
    "leaving": ["cancelling", "switching to a competitor", "leaving", "ending our contract"],
    "so_much": ["a lot", "so much", "very much", "a million"],
    "help_with": ["your help", "the quick fix", "looking into this", "your patience", "the quick replies",
                  "the great support"],
    "Really": ["Really", "Truly", "Sincerely", "We really do"],
    "support": ["your support", "the great service", "how helpful your team is", "your quick help",
                "the support we get"],
    "folks": ["guys", "folks", "all", "people"],
    "good": ["great", "awesome", "amazing", "fantastic", "wonderful", "brilliant", "super helpful"],
    "love": ["love", "really like", "enjoy", "are very happy with"],
    "helpful": ["helpful", "friendly", "excellent", "wonderful"],
    "Good_cap": ["Great", "Excellent", "Brilliant", "Nice"],
    "achievement": ["the last release", "the new dashboard", "the redesign", "the latest update",
                    "the mobile app"],
}
CONTEXT = [
    "We are on the {plan} plan.", "Our team of {n} people uses {product} every day.", "We use {product} on {os}.",
    "I'm the admin of our workspace.", "We are running version {version}.", "",
    "We moved to the latest release last week.", "Could you help us with this?", "Please advise.",
]
DETAILS = [
    "Steps: open {page}, click save, wait.", "It happens on {browser} and on {os}.", "Reference: ticket #{ticket_no}.",
    "Request id {request_id}.", "It affects about {n} users.", "We already cleared the cache and tried another browser.",
    "Screenshot attached.", "It worked fine last week.", "Please help us fix this.", "Our IP range is 10.{octet}.0.0/16 in case that matters.", "",
]
GREETINGS = ["Hi,", "Hello,", "Hello team,", "Dear support,", "Hi there,", "Good morning,", ""]
CLOSINGS = ["Thanks,", "Regards,", "Best,", "Kind regards,", "Cheers,", ""]
PII_SENTENCES = [
    "You can reach me at {email}.", "Call me at {phone} if needed.", "My direct line is {phone}.",
    "Please reply to {email} or call {phone}.", "Mobile: {phone}",
]
CARD_SENTENCES = ["The charge was on card {card}.", "We paid with card number {card}.", "Card used: {card}, exp 09/27."]
SECRET_SENTENCES = [
    "The failing URL is https://app.example.com/api/v2/export?token={hex}&page=2.",
    "We call https://svc:{hex}@api.example.com/v1/items and get the error.",
    "Our webhook endpoint is https://hooks.example.org/in?api_key={hex}&source=tickets.",
]

SLOTS = {
    "product": ["the dashboard", "the mobile app", "the REST API", "the reporting module", "the admin console",
                "the web portal", "the export service", "the sync agent", "the scheduler", "the search"],
    "error": ["a 500 Internal Server Error", "ERR_CONNECTION_RESET", "a timeout after 30 seconds",
              "a NullPointerException", "error code E1042", "'Something went wrong'", "HTTP 502 Bad Gateway",
              "error 403 Forbidden", "a blank white page"],
    "when": ["since this morning", "after yesterday's update", "since the weekend", "for the last two days",
             "since about an hour", "since we upgraded to {version}", "today"],
    "format": ["CSV", "Excel", "PDF", "JSON"],
    "integration": ["Slack", "Salesforce", "Jira", "Microsoft Teams", "Zapier", "HubSpot"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge"],
    "os": ["Windows 11", "macOS", "Ubuntu 22.04", "iOS", "Android"],
    "page": ["Settings", "Reports", "Overview", "Billing", "Users", "Projects"],
    "feature": ["dark mode", "bulk editing", "custom fields", "an audit log", "scheduled exports",
                "two-factor enforcement", "a Gantt view", "webhooks for comments"],
    "plan": ["Starter", "Team", "Business", "Enterprise"],
    "idp": ["Okta", "Azure AD", "Google Workspace", "OneLogin"],
    "duration": ["30 seconds", "over a minute", "45 seconds", "two minutes", "10 seconds"],
    "size": ["5", "10", "25", "50"],
    "pct": ["20", "30", "50", "80", "95"],
}
FIRST_NAMES = ["Anna", "Ben", "Carla", "David", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal",
               "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Umar",
               "Vera", "Wei", "Yusuf", "Zoe"]
LAST_NAMES = ["Schmidt", "Rossi", "Garcia", "Nguyen", "Kowalski", "Silva", "Okafor", "Tanaka", "Dubois",
              "Jensen", "Müller", "Patel", "Novak", "Haddad", "Larsen", "Moreau", "Fischer", "Costa"]
DOMAINS = ["example.com", "acme.io", "contoso.org", "initech.net", "globex.co.uk", "umbrella.de"]
