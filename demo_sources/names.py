"""German name, street and place data for the demo world generator."""

from __future__ import annotations

FIRST_FEMALE = """Anna Maria Emma Sophie Marie Hannah Lena Lea Mia Laura Julia Sarah Lisa Katharina Johanna
Charlotte Clara Paula Greta Ida Frieda Mila Emilia Lina Luisa Nele Jana Franziska Sabine Petra Monika Ursula
Claudia Susanne Andrea Stefanie Nicole Christina Birgit Karin Gabriele Renate Heike Martina Angelika Sandra
Kerstin Anja Silke Tanja Daniela Melanie Jessica Jennifer Simone Bärbel Jürgen Doris Elke Ingrid Helga Gisela
Brigitte Erika Hildegard Ute Dörte Jörg Anke Britta Carina Verena Miriam Nadine Svenja Vanessa Yvonne Ramona
Annika Antonia Carolin Theresa Marlene Pia Romy Zoe Amelie Ella Jule Merle Fenja Käthe Lotte Margarete
Gertrud Elisabeth Irmgard Liselotte Rosemarie Hannelore Christa Marianne Edeltraud Waltraud Sigrid Wiebke""".split()
FIRST_FEMALE = [n for n in FIRST_FEMALE if n not in ("Jürgen", "Jörg")]
FIRST_MALE = """Lukas Jonas Leon Finn Paul Elias Felix Noah Maximilian Ben Luis Henri Moritz Julian Tim Jan Niklas
Philipp Tobias Alexander David Simon Fabian Florian Sebastian Daniel Christian Michael Thomas Andreas Stefan
Markus Frank Matthias Martin Peter Klaus Wolfgang Jürgen Uwe Dieter Günter Horst Helmut Manfred Werner Gerhard
Hans Karl Heinz Rainer Bernd Ralf Jörg Torsten Holger Sven Dirk Carsten Kai Lars Björn Jens Nils Ole Malte
Hauke Timo Marco Dennis Patrick Kevin Marcel Dominik Benedikt Konstantin Leopold Anton Emil Oskar Theo Jakob
Till Hendrik Johannes Matthäus Joachim Reinhard Siegfried Friedrich Wilhelm Ernst Otto Gustav Rüdiger Götz""".split()
LAST = """Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter
Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz
Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang
Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz
Baumann Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger
Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel
Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Ernst Lindner Hübner Kramer Franz Jansen Peter
Hansen Wenzel Götz Paul Barth Kunz Hermann Lange Friedrichs Nagel Stark Grimm Schütz Blum Rieger Böttcher
Weiß Vöglein Thiel Förster Rößler Strauß Nußbaum Grünewald Jürgens Schönfeld Müller-Lüdenscheidt Gößling
Dreßler Meißner Preuß Heß Kreß Süß Fröhlich Dörr Öztürk Yılmaz Kowalski Nowak Petrović Rossi""".split()
LAST = list(dict.fromkeys(LAST))

# street name stems: compound ("Haupt" -> "Hauptstraße") and adjective forms ("Berliner Straße")
STREET_COMPOUND = """Haupt Bahnhof Goethe Schiller Linden Kirch Schul Garten Berg Wald Wiesen Ring Post Mühlen
Feld Dorf Friedhof Rosen Birken Eichen Buchen Tannen Ahorn Kastanien Beethoven Mozart Bach Kant Lessing
Heine Uhland Mörike Luisen Wilhelm Friedrich Karl Bismarck Kaiser König Markt Burg Schloss Brunnen Anger
Sonnen Blumen Holunder Weiden Erlen Fichten Lerchen Amsel Finken Drossel Tulpen Nelken Ginster Industrie
Gewerbe Hafen Fluss Bach Teich See Feldberg Hügel Kreuz Kloster Turm Tor Zoll Wein Hopfen""".split()
STREET_ADJ = """Berliner Hamburger Münchner Kölner Frankfurter Stuttgarter Dresdner Leipziger Hannoversche
Bremer Potsdamer Lübecker Kieler Augsburger Nürnberger Bonner Mainzer Wiesbadener Alte Neue Lange Breite
Hohe Obere Untere""".split()
STREET_OTHER_SUFFIX = ["weg", "allee", "platz", "ring", "gasse", "damm", "ufer"]

# (city, postcode, landline area code)
CITIES = [
    ("Berlin", "10115", "030"), ("Berlin", "10245", "030"), ("Berlin", "12043", "030"), ("Berlin", "13353", "030"),
    ("Hamburg", "20095", "040"), ("Hamburg", "22765", "040"), ("Hamburg", "21073", "040"),
    ("München", "80331", "089"), ("München", "80797", "089"), ("München", "81667", "089"),
    ("Köln", "50667", "0221"), ("Köln", "50823", "0221"), ("Frankfurt am Main", "60311", "069"),
    ("Frankfurt am Main", "60486", "069"), ("Stuttgart", "70173", "0711"), ("Düsseldorf", "40210", "0211"),
    ("Leipzig", "04109", "0341"), ("Dortmund", "44135", "0231"), ("Essen", "45127", "0201"),
    ("Bremen", "28195", "0421"), ("Dresden", "01067", "0351"), ("Hannover", "30159", "0511"),
    ("Nürnberg", "90402", "0911"), ("Duisburg", "47051", "0203"), ("Bochum", "44787", "0234"),
    ("Wuppertal", "42103", "0202"), ("Bielefeld", "33602", "0521"), ("Bonn", "53111", "0228"),
    ("Münster", "48143", "0251"), ("Mannheim", "68159", "0621"), ("Karlsruhe", "76133", "0721"),
    ("Augsburg", "86150", "0821"), ("Wiesbaden", "65183", "0611"), ("Mönchengladbach", "41061", "02161"),
    ("Gelsenkirchen", "45879", "0209"), ("Aachen", "52062", "0241"), ("Braunschweig", "38100", "0531"),
    ("Kiel", "24103", "0431"), ("Chemnitz", "09111", "0371"), ("Halle (Saale)", "06108", "0345"),
    ("Magdeburg", "39104", "0391"), ("Freiburg im Breisgau", "79098", "0761"), ("Krefeld", "47798", "02151"),
    ("Mainz", "55116", "06131"), ("Lübeck", "23552", "0451"), ("Erfurt", "99084", "0361"),
    ("Oberhausen", "46045", "0208"), ("Rostock", "18055", "0381"), ("Kassel", "34117", "0561"),
    ("Hagen", "58095", "02331"), ("Potsdam", "14467", "0331"), ("Saarbrücken", "66111", "0681"),
    ("Hamm", "59065", "02381"), ("Ludwigshafen am Rhein", "67059", "0621"), ("Oldenburg", "26122", "0441"),
    ("Mülheim an der Ruhr", "45468", "0208"), ("Osnabrück", "49074", "0541"), ("Leverkusen", "51373", "0214"),
    ("Darmstadt", "64283", "06151"), ("Heidelberg", "69117", "06221"), ("Solingen", "42651", "0212"),
    ("Regensburg", "93047", "0941"), ("Herne", "44623", "02323"), ("Paderborn", "33098", "05251"),
    ("Neuss", "41460", "02131"), ("Ingolstadt", "85049", "0841"), ("Offenbach am Main", "63065", "069"),
    ("Fürth", "90762", "0911"), ("Würzburg", "97070", "0931"), ("Ulm", "89073", "0731"),
    ("Heilbronn", "74072", "07131"), ("Pforzheim", "75175", "07231"), ("Wolfsburg", "38440", "05361"),
    ("Göttingen", "37073", "0551"), ("Bottrop", "46236", "02041"), ("Reutlingen", "72764", "07121"),
    ("Koblenz", "56068", "0261"), ("Bremerhaven", "27568", "0471"), ("Recklinghausen", "45657", "02361"),
    ("Erlangen", "91054", "09131"), ("Bergisch Gladbach", "51465", "02202"), ("Trier", "54290", "0651"),
    ("Jena", "07743", "03641"), ("Remscheid", "42853", "02191"), ("Moers", "47441", "02841"),
    ("Salzgitter", "38226", "05341"), ("Siegen", "57072", "0271"), ("Hildesheim", "31134", "05121"),
    ("Gütersloh", "33330", "05241"), ("Kaiserslautern", "67655", "0631"), ("Cottbus", "03046", "0355"),
    ("Schwerin", "19053", "0385"), ("Witten", "58452", "02302"), ("Esslingen am Neckar", "73728", "0711"),
    ("Gera", "07545", "0365"), ("Iserlohn", "58636", "02371"), ("Düren", "52349", "02421"),
    ("Tübingen", "72070", "07071"), ("Flensburg", "24937", "0461"), ("Zwickau", "08056", "0375"),
    ("Gießen", "35390", "0641"), ("Ratingen", "40878", "02102"), ("Lünen", "44532", "02306"),
    ("Villingen-Schwenningen", "78050", "07721"), ("Konstanz", "78462", "07531"), ("Marl", "45768", "02365"),
    ("Worms", "67547", "06241"), ("Velbert", "42551", "02051"), ("Minden", "32423", "0571"),
    ("Neumünster", "24534", "04321"), ("Dessau-Roßlau", "06844", "0340"), ("Norderstedt", "22846", "040"),
    ("Delmenhorst", "27749", "04221"), ("Bamberg", "96047", "0951"), ("Passau", "94032", "0851"),
    ("Lüneburg", "21335", "04131"), ("Weimar", "99423", "03643"), ("Stralsund", "18439", "03831"),
    ("Garmisch-Partenkirchen", "82467", "08821"), ("Starnberg", "82319", "08151"), ("Fulda", "36037", "0661"),
]

MOBILE_PREFIXES = ["0151", "0152", "0155", "0157", "0159", "0160", "0162", "0163",
                   "0170", "0171", "0172", "0173", "0174", "0175", "0176", "0177", "0178", "0179"]

# (domain, weight)
EMAIL_DOMAINS = [("web.de", 20), ("gmx.de", 18), ("gmail.com", 20), ("t-online.de", 12), ("gmx.net", 6),
                 ("yahoo.de", 4), ("outlook.de", 5), ("hotmail.de", 3), ("icloud.com", 4), ("freenet.de", 3),
                 ("posteo.de", 2), ("mail.de", 2), ("aol.com", 1)]

COMPANY_WORDS = ["Bau", "Logistik", "Handel", "Consulting", "Elektro", "Holztechnik", "Gartenbau", "Immobilien",
                 "Metallbau", "Medien", "Druck", "Reisen", "Sanitär", "Dachdeckerei", "Software", "Catering"]
COMPANY_FORMS = ["GmbH", "GmbH", "GmbH", "GmbH & Co. KG", "KG", "OHG", "e.K.", "UG (haftungsbeschränkt)", "AG"]

# product catalogue: (category, VAT rate, [(title, list price gross)])
CATALOGUE = [
    ("Schuhe", 0.19, [("Sneaker", 79.95), ("Laufschuh", 119.90), ("Wanderstiefel", 149.00), ("Hausschuh", 24.95),
                      ("Sandale", 39.95), ("Chelsea Boot", 129.00)]),
    ("Bekleidung", 0.19, [("T-Shirt", 19.95), ("Kapuzenpullover", 49.95), ("Jeans", 69.90), ("Regenjacke", 99.00),
                          ("Socken 3er-Pack", 12.95), ("Strickmütze", 17.95), ("Fleecejacke", 59.95)]),
    ("Haushalt", 0.19, [("Wasserkocher", 34.99), ("Kaffeemühle", 44.90), ("Pfannenset", 89.00), ("Messerblock", 129.00),
                        ("Thermoskanne", 24.90), ("Handtuch-Set", 29.95)]),
    ("Garten", 0.19, [("Gartenschere", 22.95), ("Gießkanne", 14.99), ("Hochbeet", 159.00), ("Rasensprenger", 27.50)]),
    ("Bücher", 0.07, [("Kochbuch Regional", 24.00), ("Reiseführer Ostsee", 16.95), ("Kinderbuch", 12.00),
                      ("Gartenratgeber", 19.99), ("Roman Taschenbuch", 11.00)]),
    ("Lebensmittel", 0.07, [("Kaffee 1 kg", 18.90), ("Bio-Tee Auswahl", 9.95), ("Olivenöl 0,75 l", 14.50),
                            ("Honig 500 g", 8.95), ("Schokolade Geschenkbox", 15.90)]),
    ("Elektronik", 0.19, [("Kopfhörer", 89.00), ("Powerbank", 29.99), ("Bluetooth-Lautsprecher", 59.00),
                          ("Ladekabel USB-C", 9.99), ("Smartwatch-Armband", 19.90)]),
]
PRODUCT_VARIANTS = ["", " schwarz", " weiß", " blau", " grün", " rot", " grau", " XL", " Größe M", " Premium"]

TICKET_SUBJECTS = ["Lieferung fehlt", "Artikel beschädigt", "Rücksendung", "Rechnung falsch", "Frage zur Bestellung",
                   "Umtausch Größe", "Zahlung nicht verbucht", "Adresse ändern", "Newsletter abbestellen",
                   "Gutschein funktioniert nicht", "Mahnung erhalten", "Login-Probleme", "Produktfrage",
                   "Lieferzeit", "Reklamation"]
TICKET_TAGS = {"Lieferung fehlt": "lieferung", "Artikel beschädigt": "reklamation", "Rücksendung": "retoure",
               "Rechnung falsch": "rechnung", "Frage zur Bestellung": "bestellung", "Umtausch Größe": "retoure",
               "Zahlung nicht verbucht": "zahlung", "Adresse ändern": "stammdaten",
               "Newsletter abbestellen": "newsletter", "Gutschein funktioniert nicht": "gutschein",
               "Mahnung erhalten": "mahnung", "Login-Probleme": "konto", "Produktfrage": "produkt",
               "Lieferzeit": "lieferung", "Reklamation": "reklamation"}
SURVEY_COMMENTS_GOOD = ["Super Service, danke!", "Schnelle Hilfe.", "Sehr freundlich.", "Alles bestens."]
SURVEY_COMMENTS_BAD = ["Hat viel zu lange gedauert.", "Problem nicht gelöst.", "Unfreundlich am Telefon.",
                       "Niemand hat zurückgerufen."]
